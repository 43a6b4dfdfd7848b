"""Type stubs of the native engine. The documented API is in ``wyvern`` itself."""

from typing import Any, Callable, Dict, List, Optional, Tuple

__version__: str
PRODUCTION_API_URL: str
SANDBOX_API_URL: str
SANDBOX_TOKEN: str
SANDBOX_ORDER: str
SANDBOX_DELIVERABLE: str
SANDBOX_PARTIAL_ORDER: str
SANDBOX_PARTIAL_DELIVERABLES: List[str]
SANDBOX_PENDING_ORDER: str
SANDBOX_REJECTED_ORDER: str

class WyvernError(Exception):
    hint: Optional[str]
    kind: str
    retryable: bool

class NotReadyError(WyvernError): ...
class AuthError(WyvernError): ...
class NotFoundError(WyvernError): ...
class VerificationError(WyvernError): ...

class Client:
    def __init__(
        self,
        api_url: str,
        *,
        allow_http: bool,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        password_file: Optional[str] = None,
        retries: Optional[int] = None,
        connections: Optional[int] = None,
        ca_cert: Optional[str] = None,
    ) -> None: ...
    @property
    def api_url(self) -> str: ...
    def order(self, order_id: str) -> str: ...
    def orders(self) -> List[str]: ...
    def inspect(self, deliverable: str) -> str: ...
    def report(self, order_ids: Optional[List[str]], output: str, observer: Any = None) -> str: ...
    def wait(self, order_id: str, timeout: Optional[float] = None, interval: float = 30.0) -> str: ...
    def transfer(
        self,
        order_ids: Optional[List[str]],
        to: str,
        *,
        extract: bool,
        verify: bool,
        strict: bool,
        if_exists: str = "skip",
        concurrency: int = 1,
        shard: Optional[str] = None,
        observer: Any = None,
        on_event: Optional[Callable[[str], None]] = None,
        watch: Optional[float] = None,
        include: Optional[List[str]] = None,
        exclude: Optional[List[str]] = None,
    ) -> Tuple[str, List[WyvernError], List[str]]: ...

class Sandbox:
    def __init__(self, deliverable_size: Optional[int] = None, faults: Optional[Dict[str, str]] = None) -> None: ...
    @property
    def api_url(self) -> str: ...
    def close(self) -> None: ...

def cli(argv: List[str]) -> int: ...
def inspect(zip: str) -> str: ...
def verify(zip: str, observer: Any = None) -> str: ...
def catalog(destination: str, band_assets: bool = False) -> str: ...
def report(destination: str, output: str) -> str: ...
