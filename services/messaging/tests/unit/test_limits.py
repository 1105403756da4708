"""Daily send cap (RELIABILITY A7) and campaign period (seed 002) as plain rules."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm_shared.errors import Conflict, RateLimited
from messaging.rules import (
    SEND_TIME_ENDS,
    SEND_TIME_HOLDS,
    cap_window,
    check_enrollable_period,
    check_send_cap,
    period_hold,
    remaining_today,
    send_time_hold,
)


def test_cap_window_is_the_utc_day_and_resets_at_next_midnight():
    day, resets = cap_window(datetime(2026, 12, 2, 23, 59, tzinfo=UTC))
    assert day == date(2026, 12, 2) and resets == datetime(2026, 12, 3, tzinfo=UTC)


def test_remaining_counts_claimed_and_queued_and_never_goes_negative():
    assert remaining_today(10, 3, 2) == 5
    assert remaining_today(10, 12, 0) == 0


def test_a_send_that_fits_passes_and_one_that_does_not_is_429_naming_cap_remaining_reset():
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    resets = datetime(2026, 12, 3, tzinfo=UTC)
    check_send_cap(5, 10, 5, resets, now)
    with pytest.raises(RateLimited) as err:
        check_send_cap(6, 10, 5, resets, now)
    assert err.value.status == 429
    details = err.value.details
    assert details["cap"] == 10 and details["remaining"] == 5 and details["requested"] == 6
    assert details["resets_at"] == resets.isoformat() and details["retry_after_s"] == 12 * 3600


def test_period_hold():
    start, end = date(2026, 1, 15), date(2026, 3, 31)
    assert period_hold(start, end, date(2026, 1, 14)) == "before_start_date"
    assert period_hold(start, end, date(2026, 1, 15)) is None
    assert period_hold(start, end, date(2026, 3, 31)) is None  # both ends inclusive
    assert period_hold(start, end, date(2026, 4, 1)) == "campaign_ended"
    assert period_hold(None, None, date(2026, 4, 1)) is None


def test_enrolling_into_an_ended_campaign_names_end_date():
    check_enrollable_period(date(2026, 3, 31), date(2026, 3, 31))
    check_enrollable_period(None, date(2030, 1, 1))
    with pytest.raises(Conflict) as err:
        check_enrollable_period(date(2026, 3, 31), date(2026, 4, 1))
    assert "end_date" in err.value.details["fields"]


@pytest.mark.parametrize("status,today,reason", [
    ("Active", date(2026, 1, 15), None),                        # first day of the period: sent
    ("Active", date(2026, 3, 31), None),                        # last day too (inclusive)
    ("Active", date(2026, 4, 1), "campaign_ended"),             # queued before end_date, sent after it
    ("Active", date(2026, 1, 14), "before_start_date"),         # start moved later after it was queued
    ("Inactive", date(2026, 2, 1), "campaign_inactive"),        # paused: the step waits
    ("Inactive", date(2026, 4, 1), "campaign_ended"),           # past the end, a pause does not matter
    ("Discarded", date(2026, 2, 1), "campaign_discarded"),      # final: never sent
])
def test_send_time_hold_checks_period_and_status_right_before_sending(status, today, reason):
    assert send_time_hold(status, date(2026, 1, 15), date(2026, 3, 31), today) == reason


def test_send_time_reasons_either_end_the_enrollment_or_hold_the_step():
    assert set(SEND_TIME_ENDS) == {"campaign_ended", "campaign_discarded"}
    assert set(SEND_TIME_HOLDS) == {"before_start_date", "campaign_inactive"}
    assert send_time_hold("Active", None, None, date(2030, 1, 1)) is None
