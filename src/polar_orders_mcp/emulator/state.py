"""The emulator's whole state: the services' backend (store, clock, settings), authentication, faults, services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from . import seed as seeding
from .backend import Backend
from .catalog import CatalogService
from .checkouts import CheckoutService
from .disputes import DisputeService
from .errors import InsufficientScope, InvalidToken, Unauthorized
from .faults import FaultPlan
from .models import CustomerPrincipal, OrgPrincipal, Principal, Settings
from .orders import OrderService
from .refunds import RefundService
from .seed import SeedInfo
from .store import Store
from .subscriptions import SubscriptionService

# The version the emulator is written against, and the ones Polar serves (server/polar/version.py):
# a request without `Polar-Version` is served as 2026-04, Polar's current version.
API_VERSION = "2026-10"
DEFAULT_API_VERSION = "2026-04"
API_VERSIONS = frozenset({DEFAULT_API_VERSION, API_VERSION})


def utc_now() -> datetime:
    return datetime.now(UTC)


class EmulatorState:
    """No HTTP: routes authenticate here, call the services and render what they return.

    The services get only the backend (store, clock, settings). Reset and reseed replace the store and
    the settings inside it, so a reference to this object, or to a service, stays valid.
    """

    seed_info: SeedInfo

    def __init__(self, *, orders: int = 60, seed: int = 0, clock: Callable[[], datetime] = utc_now) -> None:
        self.order_count = orders
        self.seed = seed
        self.faults = FaultPlan()
        store, self.seed_info = seeding.build(orders=orders, seed=seed, now=clock())
        self.backend = Backend(store, Settings(), clock)
        self.orders = OrderService(self.backend)
        self.catalog = CatalogService(self.backend)
        self.checkouts = CheckoutService(self.backend, self.catalog)
        self.refunds = RefundService(self.backend)
        self.subscriptions = SubscriptionService(self.backend)
        self.disputes = DisputeService(self.backend, self.subscriptions)

    # The store, the settings and the clock live in the services' backend; these read and set them there.

    @property
    def store(self) -> Store:
        return self.backend.store

    @property
    def settings(self) -> Settings:
        return self.backend.settings

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.backend.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.backend.clock = clock

    def now(self) -> datetime:
        return self.backend.now()

    def reset(self, *, orders: int | None = None, seed: int | None = None) -> SeedInfo:
        """Fresh state: a new seed (same parameters unless given), default settings, no faults."""
        if orders is not None:
            self.order_count = orders
        if seed is not None:
            self.seed = seed
        self.backend.store, self.seed_info = seeding.build(orders=self.order_count, seed=self.seed, now=self.now())
        self.backend.settings = Settings()
        self.faults = FaultPlan()
        return self.seed_info

    def set_organization(
        self,
        *,
        off_session_charges_enabled: bool | None = None,
        payments_ready: bool | None = None,
        can_refund: bool | None = None,
    ) -> None:
        org = self.store.organization
        if off_session_charges_enabled is not None:
            org.off_session_charges_enabled = off_session_charges_enabled
        if payments_ready is not None:
            org.payments_ready = payments_ready
        if can_refund is not None:
            org.can_refund = can_refund

    # Authentication, as Polar's middleware does it: any bearer that is not a live token is
    # `invalid_token`, whatever the path; the route then checks the subject's kind and scopes.

    def authenticate(self, token: str | None) -> Principal | None:
        if token is None:
            return None
        if token.startswith("polar_cst_"):
            session = self.store.sessions.get(token)
            if session is None or session.expires_at <= self.now():
                raise InvalidToken()
            return CustomerPrincipal(session.customer, session.id)
        principal = self.store.tokens.get(token)
        if principal is None:
            raise InvalidToken()
        return principal

    def require_org(self, token: str | None, *scopes: str) -> OrgPrincipal:
        """An organization token holding at least one of `scopes`."""
        principal = self.authenticate(token)
        if not isinstance(principal, OrgPrincipal):
            raise Unauthorized()
        if scopes and not principal.scopes.intersection(scopes):
            raise InsufficientScope(frozenset(scopes))
        return principal

    def require_customer(self, token: str | None) -> CustomerPrincipal:
        """A live customer session: the only credential the customer portal takes."""
        principal = self.authenticate(token)
        if not isinstance(principal, CustomerPrincipal):
            raise Unauthorized()
        return principal
