"""Access keys: who may call the API, each key either an admin or limited to one dataset group (its tenant).

A key is an access key id and a secret, as AWS's are, so boto3, the AWS CLI and any SigV4 signer use it
unchanged. SigV4 needs the secret itself on the server (the signature is an HMAC keyed by it), so it cannot be
stored as a one-way hash: it is stored encrypted (Fernet: AES-128-CBC plus HMAC-SHA256) with the server key, a
key file under ``home`` (created at first use, mode 0600) or the ``RECSMITH_SERVER_KEY`` setting. A copy of the
catalog alone therefore reveals no secret. Secrets are never logged; :class:`AccessKey`'s ``repr`` hides them.

The table sits in the catalog database beside the resources (its own table, created on first use).
"""

from __future__ import annotations

import os
import secrets
import string
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import Float, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from recsmith.db import make_engine
from recsmith.errors import RecsmithError, ResourceNotFoundError
from recsmith.settings import Settings

KEY_ID_PREFIX = "RSAK"  # AWS's own keys start AKIA/ASIA; ours are recognisable at a glance
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits


class _Base(DeclarativeBase):
    pass


class AccessKeyRow(_Base):
    __tablename__ = "access_keys"

    access_key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    dataset_group_arn: Mapped[str | None] = mapped_column(String(512), index=True, nullable=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    creation_time: Mapped[float] = mapped_column(Float)


class AccessKey(BaseModel):
    """A key and what it may reach: every dataset group (admin) or the one named."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_key_id: str
    secret_access_key: SecretStr = Field(repr=False)
    dataset_group_arn: str | None = Field(default=None, description="None: an admin key.")
    description: str = ""
    creation_time: float = Field(default_factory=time.time)

    @property
    def is_admin(self) -> bool:
        return self.dataset_group_arn is None


def server_cipher(settings: Settings) -> Fernet:
    """The cipher of access-key secrets: the configured server key, or the key file under ``home``.

    The key file is created once, atomically and readable by its owner only, so concurrent first starts agree
    on one key.
    """
    if settings.server_key is not None:
        return Fernet(settings.server_key.get_secret_value().encode())
    path = settings.resolved_home / "server.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".server.key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
        try:
            os.link(tmp, path)  # fails if another process created it first: theirs wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return Fernet(path.read_bytes().strip())


class AccessKeyStore:
    """Create, find, list and delete access keys in the catalog database."""

    def __init__(self, url: str, cipher: Fernet) -> None:
        self._engine = make_engine(url)
        _Base.metadata.create_all(self._engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._cipher = cipher

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessKeyStore:
        return cls(settings.resolved_catalog_url(), server_cipher(settings))

    def dispose(self) -> None:
        self._engine.dispose()

    def create(self, dataset_group_arn: str | None, description: str = "") -> AccessKey:
        """A new key with a random id and secret; ``dataset_group_arn`` None makes an admin key."""
        key = AccessKey(
            access_key_id=KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16)),
            secret_access_key=SecretStr(secrets.token_urlsafe(30)),
            dataset_group_arn=dataset_group_arn,
            description=description,
        )
        with self._sessions.begin() as session:
            session.add(
                AccessKeyRow(
                    access_key_id=key.access_key_id,
                    secret_ciphertext=self._cipher.encrypt(key.secret_access_key.get_secret_value().encode()).decode(),
                    dataset_group_arn=key.dataset_group_arn,
                    description=description,
                    creation_time=key.creation_time,
                )
            )
        return key

    def find(self, access_key_id: str) -> AccessKey | None:
        """The key with this id, secret decrypted, or None."""
        with self._sessions.begin() as session:
            row = session.get(AccessKeyRow, access_key_id)
            if row is None:
                return None
            return self._to_key(row)

    def list(self) -> list[AccessKey]:
        with self._sessions.begin() as session:
            rows = session.scalars(select(AccessKeyRow).order_by(AccessKeyRow.creation_time)).all()
            return [self._to_key(row) for row in rows]

    def delete(self, access_key_id: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(AccessKeyRow, access_key_id)
            if row is None:
                raise ResourceNotFoundError(f"no access key {access_key_id!r}")
            session.delete(row)

    def _to_key(self, row: AccessKeyRow) -> AccessKey:
        try:
            secret = self._cipher.decrypt(row.secret_ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise RecsmithError(
                f"access key {row.access_key_id} cannot be decrypted: the server key is not the one it was "
                "stored with (RECSMITH_SERVER_KEY or home/server.key)"
            ) from exc
        return AccessKey(
            access_key_id=row.access_key_id,
            secret_access_key=SecretStr(secret),
            dataset_group_arn=row.dataset_group_arn,
            description=row.description,
            creation_time=row.creation_time,
        )


def write_shared_credentials(path: Path, profile: str, key: AccessKey, region: str) -> None:
    """Write ``key`` as ``profile`` of an AWS shared-credentials file (mode 0600), other profiles kept.

    ``region`` goes into the same profile: botocore merges the credentials file's profiles into its config, so
    ``AWS_SHARED_CREDENTIALS_FILE=<path> AWS_PROFILE=<profile>`` alone gives a client both key and region.
    """
    import configparser

    parser = configparser.RawConfigParser()
    if path.exists():
        parser.read(path)
    if not parser.has_section(profile):
        parser.add_section(profile)
    parser.set(profile, "aws_access_key_id", key.access_key_id)
    parser.set(profile, "aws_secret_access_key", key.secret_access_key.get_secret_value())
    parser.set(profile, "region", region)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        parser.write(out)
    os.replace(tmp, path)


def read_shared_credentials(path: Path, profile: str) -> str | None:
    """The access key id of ``profile`` in a shared-credentials file, or None."""
    import configparser

    parser = configparser.RawConfigParser()
    if not path.exists():
        return None
    parser.read(path)
    return parser.get(profile, "aws_access_key_id", fallback=None)
