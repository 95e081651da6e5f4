"""The create-rate arithmetic on its own: per-second counts, the current second's allowance, and how
long a refused create waits for the window to slide."""

from videojobs.adapters.capacity import CreateCounts

T = 1_764_579_600  # a whole epoch second


def test_a_minute_with_room_left_needs_no_wait_and_allows_what_is_left() -> None:
    counts = CreateCounts({T - 60: 3, T - 10: 4, T: 2})

    assert counts.wait_seconds(T + 0.5, limit=10) == 0.0
    assert counts.allowance(T + 0.5, limit=10) == 3  # 10 less the 7 counted in the sixty seconds before


def test_a_full_minute_waits_until_enough_of_its_oldest_creates_slide_out() -> None:
    counts = CreateCounts({T - 60: 3, T - 10: 4, T: 3})

    # 10 of 10: the three of T-60 stop counting once the clock is past T.
    assert counts.wait_seconds(T + 0.25, limit=10) == 0.75
    # 10 against a limit of 7: the three of T-60 are not enough; the four of T-10 stop counting at T+51.
    assert counts.wait_seconds(T + 0.25, limit=7) == 50.75


def test_seconds_older_than_the_window_no_longer_count_and_are_dropped() -> None:
    counts = CreateCounts({T - 61: 100, T - 60: 1})

    assert counts.wait_seconds(T, limit=2) == 0.0
    assert counts.allowance(T, limit=2) == 1
    assert counts.expired(T) == [T - 61]


def test_a_second_counted_ahead_of_this_clock_counts_against_it() -> None:
    # Another function's clock ran a little ahead: what it counted still counts here.
    counts = CreateCounts({T + 1: 2})

    assert counts.allowance(T, limit=2) == 0
    assert counts.wait_seconds(T, limit=2) == 62.0


def test_counts_are_read_from_the_items_per_second_attributes_only() -> None:
    item = {
        "pk": {"S": "eachlabs#k"},
        "sk": {"S": "rate"},
        f"s{T}": {"N": "4"},
        f"s{T - 1}": {"N": "1"},
        "expires_at": {"N": "1"},
        "tat": {"N": "12.5"},  # what the limiter before this one kept
    }

    assert CreateCounts.from_item(item) == CreateCounts({T: 4, T - 1: 1})
    assert CreateCounts.from_item(None) == CreateCounts({})
