"""The shared tier (Redis) behind each worker's local cache, and revocation for every worker.

``MCPAuth(shared_cache={...})`` configures it (``SharedCacheConfig``); ``MCPAuth.revoke``
revokes. redis-py is imported only when Redis is configured (``pip install
'mcpauth-fast[redis]'``).
"""

from .config import SharedCacheConfig
from .tier import SharedTier

__all__ = ["SharedCacheConfig", "SharedTier"]
