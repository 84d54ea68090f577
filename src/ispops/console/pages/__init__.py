"""Console pages, one module per area; each exposes ``router`` (an APIRouter) and ``NAV`` (menu items)."""
