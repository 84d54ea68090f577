"""Fixed wireless: towers, sectors, and the subscribers served from them."""
