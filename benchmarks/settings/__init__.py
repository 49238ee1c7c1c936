"""One Django settings module per benchmarked system; ``base`` holds what they share."""
