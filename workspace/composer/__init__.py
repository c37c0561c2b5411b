"""The workspace's composer (docs/workspace.md, "The composer"): ``composition`` reads the form,
``preview`` shows each channel's post and counters, ``views`` does the actions through
publishing.services, ``library`` is where the media library plugs in."""
