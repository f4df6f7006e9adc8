"""A website's contact form (SPEC §12): forms a site builder emails in
(an ``imap`` entry's ``forms`` rules) and forms posted to ``supportctl
serve``; both are read by ``supportctl.channels.web``."""

from __future__ import annotations

from supportctl.channels.spec import Medium, lower

MEDIA = (
    # The person who filled the form in is known by their email address,
    # and is answered by email.
    Medium("web", rank=80, identity="email", normalise=lower, answered_by="email",
           no_first="a contact form cannot be written to: use `supportctl new --channel email`",
           stored_parser="supportctl.channels.web:parse_stored"),
)

CHANNEL = None
