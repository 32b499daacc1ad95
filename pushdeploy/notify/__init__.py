"""Who hears of a deploy: the notice, and how each kind of target is spoken to."""
