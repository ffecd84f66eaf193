"""Human approval of irreversible calls: previews, the channels that ask a person, and the one guarded path."""
