"""Where the files shipped with Frontdesk live (dialogue flows, phrase files, default data, web page)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = ROOT / "assets"
RETAIL_DB = ASSETS_DIR / "retail" / "db.json"
