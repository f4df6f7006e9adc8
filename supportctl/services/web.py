"""Contacts of the ``web`` medium (SPEC §12): the person who filled a
form in is known by the email address and the phone number they gave, the
same identities their mail and texts carry, so a form, a mail and an SMS
from one person are one contact. An address already another contact's is
never taken from them: the first found is the contact, the rest are
added only when nobody has them."""

from __future__ import annotations

from supportctl.models import Inbound
from supportctl.services import contacts
from supportctl.store import contacts as contact_repo
from supportctl.store.db import Store


def form_contact(store: Store, item: Inbound, now: str) -> int | None:
    form = item.meta.get("form")
    form = form if isinstance(form, dict) else {}
    name = str(form.get("name") or (item.sender.name if item.sender else "") or "")
    ids = [(m, str(form.get(k) or "")) for m, k in (("email", "email"), ("phone", "phone"))]
    ids = [(m, a) for m, a in ids if a]
    if not ids and item.sender is not None and item.sender.address:
        ids = [("email" if "@" in item.sender.address else "phone", item.sender.address)]
    if not ids:
        return None
    found = next((c for c in (contacts.find(store, m, a) for m, a in ids) if c is not None), None)
    if found is None:
        medium, address = ids[0]
        found = contacts.find_or_create(store, medium, address, name, now)
    elif name and not contact_repo.name(store, found):
        contact_repo.set_name(store, found, name, now)
    for medium, address in ids:
        if contacts.find(store, medium, address) is None:
            contacts.add_identity(store, found, medium, address, now)
    return found
