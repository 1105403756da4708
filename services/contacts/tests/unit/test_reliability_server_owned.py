"""RELIABILITY A3 at the service: every server-owned field is refused on create *and* update (PATCH).

The existing unit test names five fields on create only; this pins the whole SERVER_FIELDS list,
including the consent/suppression flag ``unsubscribed``, ``import_id``, ``source`` and ``updated_by``.
"""
import pytest

from contacts import rules
from crm_shared.errors import BadRequest

VALID = {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.com"}


def test_the_server_owned_list_covers_what_a3_names():
    assert {"owner_id"} <= set(rules.WRITABLE_FIELDS)       # owner_id is writable, guarded by role (A2)
    assert {"created_by", "updated_by", "created_at", "updated_at", "unsubscribed", "score",
            "import_id", "source"} <= set(rules.SERVER_FIELDS)
    assert not set(rules.SERVER_FIELDS) & set(rules.WRITABLE_FIELDS)


@pytest.mark.parametrize("partial", [False, True], ids=["create", "update"])
@pytest.mark.parametrize("field", rules.SERVER_FIELDS)
def test_every_server_owned_field_is_refused(field, partial):
    data = {"position": "CTO", field: False if field == "unsubscribed" else "x"}
    if not partial:
        data.update(VALID)
    with pytest.raises(BadRequest) as refused:
        rules.clean_contact(data, partial=partial)
    assert field in refused.value.details["fields"]
