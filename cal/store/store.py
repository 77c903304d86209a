"""The endpoint store: endpoints and their sealed API keys over cal's database (cal/store/)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from cal.config import Settings
from cal.routing.model import Endpoint
from cal.store import endpoints as _rows
from cal.store.db import Database, StoreError
from cal.store.secrets import SECRET_KEY_FILE, Keyring

__all__ = ["SECRET_KEY_FILE", "Database", "Store", "StoreError", "open_store"]

Snapshot = tuple[int, list[Endpoint], str | None]
"""(data_version, endpoints, active endpoint name), read together."""


class Store:
    """The endpoint store: one database connection and the keyring that guards API keys."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    @classmethod
    def open(cls, path: Path, secret_key_path: Path) -> Store:
        """Open (create, migrate) the database at `path`; keys are sealed with `secret_key_path`."""
        return cls(Database.open(path), Keyring(secret_key_path))

    def list_endpoints(self) -> list[Endpoint]:
        """Every endpoint with its key decrypted, by priority (lowest first), then name."""
        with self.db.read() as conn:
            return _rows.list_endpoints(conn, self.keyring)

    def get_endpoint(self, name: str) -> Endpoint:
        """The endpoint called `name` (StoreError if unknown)."""
        with self.db.read() as conn:
            return _rows.get_endpoint(conn, self.keyring, name)

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Store a new endpoint (StoreError if the name exists or a field is invalid)."""
        with self.db.write() as conn:
            _rows.insert_endpoint(conn, self.keyring, endpoint)

    def remove_endpoint(self, name: str) -> None:
        """Delete an endpoint; the manual switch is cleared if it pointed there."""
        with self.db.write() as conn:
            _rows.delete_endpoint(conn, name)

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable an endpoint."""
        with self.db.write() as conn:
            _rows.update_enabled(conn, name, enabled)

    def set_active(self, name: str) -> None:
        """Switch traffic to `name` (persisted); it must exist and be enabled."""
        with self.db.write() as conn:
            _rows.write_active(conn, name)

    def active_endpoint(self) -> str | None:
        """The endpoint chosen with `set_active`, if any."""
        with self.db.read() as conn:
            return _rows.read_active(conn)

    def load_snapshot(self) -> Snapshot:
        """Endpoints and the active name from one read, with the data version read before them.

        A change committed after the version was read makes the next `data_version()` differ,
        so a poller that reloads on a difference never misses one.
        """
        version = self.db.data_version()
        with self.db.read() as conn:
            return version, _rows.list_endpoints(conn, self.keyring), _rows.read_active(conn)

    def data_version(self) -> int:
        """Changes whenever anyone commits a change to the database (cheap: poll it)."""
        return self.db.data_version()

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(settings: Settings) -> Store:
    """The Store at `settings.db_path`, with `secret.key` in `settings.data_dir`."""
    return Store.open(settings.db_path, settings.data_dir / SECRET_KEY_FILE)
