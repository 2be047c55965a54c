"""Set up Superset and move the dashboards between ``dashboards/assets`` and Superset.

Runs in the Superset environment (``dashboards/.venv``), started by ``cems dashboards``,
which sets the environment this reads (see :data:`TEMPLATE_VARIABLES`)::

    python dashboards/manage.py up        # migrate the metadata DB, roles, admin, import
    python dashboards/manage.py import    # import dashboards/assets (overwriting)
    python dashboards/manage.py export    # write what Superset holds back to the assets

The assets are Superset's unzipped export format. Values that depend on the machine
(the warehouse connection string, the lakehouse path) are ``${CEMS_...}`` placeholders in
the files: ``import`` fills them in from the environment and ``export`` puts them back, so
the files never hold a connection string, a password or a path.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from dbt_datasets import dump, normalized

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
# Placeholders an asset may hold, filled from the environment of the same name at import.
TEMPLATE_VARIABLES = ("CEMS_SUPERSET_WAREHOUSE_URI", "CEMS_LAKEHOUSE_ROOT")
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

log = logging.getLogger("cems.dashboards")


class AssetError(Exception):
    """The assets cannot be imported as they are; the message says why."""


# ------------------------------------------------------------------ templating (no Superset)


def template_values(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The placeholder values from the environment; an error names any that is missing."""
    environ = dict(os.environ if environ is None else environ)
    missing = [name for name in TEMPLATE_VARIABLES if not environ.get(name)]
    if missing:
        raise AssetError(
            f"set {', '.join(missing)} in the environment (cems dashboards does it from the "
            "CEMS settings)"
        )
    return {name: environ[name].rstrip("/") for name in TEMPLATE_VARIABLES}


def render(text: str, values: dict[str, str], where: str = "") -> str:
    """Replace every ``${NAME}`` in ``text``; unknown names are an error, not left behind."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AssetError(f"{where}: unknown placeholder ${{{name}}}")
        return values[name]

    return _PLACEHOLDER.sub(fill, text)


def untemplate(text: str, values: dict[str, str]) -> str:
    """Put the placeholders back where an exported file holds their values."""
    # Longest value first, so a path inside another value is not replaced half-way.
    for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
        if value:
            text = text.replace(value, f"${{{name}}}")
    return text


def read_assets(root: Path = ASSETS_DIR, values: dict[str, str] | None = None) -> dict[str, str]:
    """The bundle Superset's importer takes: relative path -> YAML text, rendered."""
    if not (root / "metadata.yaml").is_file():
        raise AssetError(f"{root} holds no metadata.yaml: it is not a Superset export")
    values = template_values() if values is None else values
    contents = {}
    for path in sorted(root.rglob("*.yaml")):
        name = path.relative_to(root).as_posix()
        contents[name] = render(path.read_text(encoding="utf-8"), values, name)
    return contents


# ------------------------------------------------------------------ Superset


def _app() -> Any:
    from superset.app import create_app

    return create_app()


def setup_metadata(admin: dict[str, str]) -> None:
    """Migrate the metadata DB, sync roles and permissions, and create or update the admin."""
    from flask_migrate import upgrade
    from superset import security_manager
    from superset.extensions import appbuilder, db

    migrations = Path(sys.modules["superset"].__file__ or "").parent / "migrations"
    upgrade(directory=str(migrations))
    appbuilder.add_permissions(update_perms=True)
    security_manager.sync_role_definitions()
    role = security_manager.find_role("Admin")
    user = security_manager.find_user(username=admin["username"])
    if user is None:
        user = security_manager.add_user(
            admin["username"],
            admin["first_name"],
            admin["last_name"],
            admin["email"],
            role,
            password=admin["password"],
        )
        if not user:
            raise AssetError(f"Superset could not create the admin user {admin['username']!r}")
        log.info("created admin %s", admin["username"])
    else:
        # The password in the settings is the one that works, also after it changed.
        security_manager.reset_password(user.id, admin["password"])
        user.email = admin["email"]
        user.active = True
        if role not in user.roles:
            user.roles.append(role)
        db.session.commit()


def import_assets(contents: dict[str, str], username: str) -> None:
    """Import the bundle with Superset's own asset importer (overwrites by uuid)."""
    from superset import security_manager
    from superset.commands.exceptions import CommandInvalidError
    from superset.commands.importers.v1.assets import ImportAssetsCommand
    from superset.utils.core import override_user

    user = security_manager.find_user(username=username)
    if user is None:
        raise AssetError(f"no Superset user {username!r}; run `manage.py up` first")
    with override_user(user):
        try:
            ImportAssetsCommand(contents).run()
        except CommandInvalidError as exc:
            details = "; ".join(
                f"{file}: {problem}"
                for error in exc.normalized_messages().values()
                for file, problem in (error.items() if isinstance(error, dict) else [("", error)])
            )
            raise AssetError(f"Superset rejected the assets: {details or exc}") from exc
    counts: dict[str, int] = {}
    for name in contents:
        kind = name.split("/", 1)[0] if "/" in name else "metadata"
        counts[kind] = counts.get(kind, 0) + 1
    log.info("imported %s", ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


def export_assets(root: Path, values: dict[str, str], username: str) -> list[str]:
    """Write every database, dataset, chart and dashboard Superset holds into ``root``."""
    from superset import security_manager
    from superset.commands.export.assets import ExportAssetsCommand
    from superset.utils.core import override_user

    with override_user(security_manager.find_user(username=username)):
        exported = [(name, content()) for name, content in ExportAssetsCommand().run()]
    kinds = ("databases", "datasets", "charts", "dashboards", "queries")
    stale = {p for kind in kinds for p in (root / kind).rglob("*.yaml")}
    written: list[str] = []
    for name, content in exported:
        relative = Path(name)
        if relative.name == "metadata.yaml":
            if (root / "metadata.yaml").is_file():
                continue  # only its timestamp would change
        else:
            relative = relative.with_name(_stable_file_name(relative, content, written))
        if relative.parts[0] == "datasets":
            content = dump(normalized(yaml.safe_load(content)))
        if relative.parts[0] == "databases":
            # Even when the URI holds a (masked) password or a host: never in the files.
            content = re.sub(
                r"^sqlalchemy_uri: .*$",
                "sqlalchemy_uri: ${CEMS_SUPERSET_WAREHOUSE_URI}",
                content,
                flags=re.MULTILINE,
            )
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(untemplate(content, values), encoding="utf-8")
        stale.discard(target)
        written.append(relative.as_posix())
    for path in stale:  # deleted in Superset: deleted here too
        path.unlink()
    return written


def _stable_file_name(path: Path, content: str, taken: list[str]) -> str:
    """Superset names files ``<title>_<id>.yaml``; ids differ between instances, so drop it."""
    stem = re.sub(r"_\d+$", "", path.stem)
    if (path.parent / f"{stem}.yaml").as_posix() in taken:
        found = re.search(r"^uuid: (\S+)$", content, re.MULTILINE)
        stem = f"{stem}_{found.group(1)[:8] if found else path.stem}"
    return f"{stem}.yaml"


def _admin_from_env() -> dict[str, str]:
    password = os.environ.get("CEMS_SUPERSET_ADMIN_PASSWORD", "")
    if not password:
        raise AssetError("set CEMS_SUPERSET_ADMIN_PASSWORD (cems dashboards does it)")
    return {
        "username": os.environ.get("CEMS_SUPERSET_ADMIN_USERNAME", "admin"),
        "password": password,
        "email": os.environ.get("CEMS_SUPERSET_ADMIN_EMAIL", "admin@cems.invalid"),
        "first_name": "CEMS",
        "last_name": "Admin",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "import", "export"])
    parser.add_argument("--assets", type=Path, default=ASSETS_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("superset", "alembic", "flask_appbuilder", "root", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        values = template_values()
        username = os.environ.get("CEMS_SUPERSET_ADMIN_USERNAME", "admin")
        with _app().app_context():
            if args.command == "up":
                admin = _admin_from_env()
                setup_metadata(admin)
                import_assets(read_assets(args.assets, values), admin["username"])
            elif args.command == "import":
                import_assets(read_assets(args.assets, values), username)
            else:
                written = export_assets(args.assets, values, username)
                log.info("exported %d files into %s", len(written), args.assets)
    except AssetError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
