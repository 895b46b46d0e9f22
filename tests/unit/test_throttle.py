"""Login throttling, with a fake clock."""

from __future__ import annotations

from acd.core.throttle import LoginThrottle, ThrottleRules

RULES = ThrottleRules(per_user=3, per_address=5, window=60.0)


def test_a_job_number_waits_after_too_many_failures_until_the_oldest_is_forgotten():
    throttle = LoginThrottle(RULES)
    for t in (0.0, 10.0, 20.0):
        assert throttle.wait_for("1001", "10.0.0.1", t) == 0
        throttle.failed("1001", "10.0.0.1", t)
    assert throttle.wait_for("1001", "10.0.0.2", 30.0) == 30.0  # from another address too
    assert throttle.wait_for("1002", "10.0.0.2", 30.0) == 0  # another user is not held up
    assert throttle.wait_for("1001", "10.0.0.2", 60.0) == 0  # the first failure is forgotten


def test_one_address_trying_many_job_numbers_waits_too():
    throttle = LoginThrottle(RULES)
    for i in range(5):
        throttle.failed(f"10{i:02d}", "10.0.0.9", float(i))
    assert throttle.wait_for("1099", "10.0.0.9", 5.0) == 55.0
    assert throttle.wait_for("1099", "10.0.0.8", 5.0) == 0


def test_a_successful_login_forgets_the_users_failures_not_the_addresss():
    throttle = LoginThrottle(RULES)
    for t in (0.0, 1.0):
        throttle.failed("1001", "10.0.0.1", t)
    throttle.succeeded("1001")
    throttle.failed("1001", "10.0.0.1", 2.0)
    throttle.failed("1001", "10.0.0.1", 3.0)
    assert throttle.wait_for("1001", "10.0.0.1", 4.0) == 0  # 2 of 3 since the success
    throttle.failed("1002", "10.0.0.1", 4.0)
    assert throttle.wait_for("1003", "10.0.0.1", 5.0) == 55.0  # the address has 5 failures


def test_guesses_sent_at_once_count_while_they_are_checked():
    throttle = LoginThrottle(RULES)
    for _ in range(3):  # three guesses at 1001 arrive together, none answered yet
        assert throttle.wait_for("1001", "10.0.0.1", 0.0) == 0
        throttle.started("1001", "10.0.0.1")
    assert throttle.wait_for("1001", "10.0.0.1", 0.0) > 0  # a fourth waits
    for _ in range(3):
        throttle.failed("1001", "10.0.0.1", 0.5)
    assert throttle.wait_for("1001", "10.0.0.1", 1.0) == 59.5
    throttle.started("1002", "10.0.0.1")
    throttle.succeeded("1002", "10.0.0.1")
    assert throttle.wait_for("1002", "10.0.0.1", 1.0) == 0
