"""One module per resource; each declares an APIRouter with its prefix and tag."""
