"""High availability: two instances, one leader by a PostgreSQL advisory lock, a warm follower that takes over."""
