"""One ``APIRouter`` per area: status (health, stats, genres), movies (browse, one movie, similar),
search (search, recommend), and the server-rendered pages."""
