"""Sign-in throttling on fake time: free attempts, doubling lock-outs, refunds, forgetting."""

from sentra.auth.throttle import Limit, Throttle

USER = Limit(free=5, base_s=1.0, max_s=900.0, forget_s=3600.0)
IP = Limit(free=20, base_s=1.0, max_s=900.0, forget_s=3600.0)


def _throttle(**kw):
    return Throttle({"user": USER, "ip": IP}, **kw)


def keys(user="alice", ip="192.0.2.7"):
    return [("user", user), ("ip", ip)]


def test_five_attempts_pass_then_the_sixth_waits_one_second():
    t = _throttle()
    for _ in range(5):
        assert t.attempt(keys(), now=100.0) is None
    refused = t.attempt(keys(), now=100.0)
    assert refused is not None and refused.scope == "user"
    assert refused.retry_after_s == 1.0 and refused.retry_after_header == "1"
    assert t.attempt(keys(), now=100.999) is not None
    assert t.attempt(keys(), now=101.0) is None


def test_lock_out_doubles_with_each_failure_up_to_the_maximum():
    t = _throttle()
    now, waits = 0.0, []
    for _ in range(25):
        refused = t.check(keys(), now)
        if refused:
            waits.append(refused.retry_after_s)
            now = refused.until
        assert t.attempt(keys(), now) is None
    assert waits[:8] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert max(waits) == 900 and waits[-1] == 900


def test_a_refused_attempt_does_not_extend_the_lock():
    t = _throttle()
    for _ in range(5):
        t.attempt(keys(), now=0.0)
    for _ in range(1000):
        assert t.attempt(keys(), now=0.5) is not None
    assert t.failures(("user", "alice"), now=0.5) == 5
    assert t.attempt(keys(), now=1.0) is None


def test_patient_attacker_gets_about_ten_guesses_in_the_first_minute():
    t = _throttle()
    now, checked = 0.0, 0
    while now < 60.0:
        refused = t.attempt(keys(), now)
        if refused is None:
            checked += 1
        else:
            now = refused.until
    assert checked == 10  # 5 at once, then at 1, 3, 7, 15 and 31 s (the next is at 63 s)
    assert t.failures(("user", "alice"), now) == 10


def test_success_resets_the_user_but_only_refunds_the_address():
    t = _throttle()
    for i in range(4):
        t.attempt(keys(user=f"u{i}"), now=0.0)
    t.attempt(keys(), now=0.0)
    t.success(keys(), now=0.0)
    assert t.failures(("user", "alice"), 0.0) == 0
    assert t.failures(("ip", "192.0.2.7"), 0.0) == 4  # the guesses at u0..u3 are kept


def test_refund_hands_back_one_attempt_and_lifts_the_lock_it_caused():
    t = _throttle()
    for _ in range(5):
        t.attempt(keys(), now=0.0)
    assert t.check(keys(), 0.0) is not None
    t.refund(keys(), now=0.0)
    assert t.check(keys(), 0.0) is None
    assert t.failures(("user", "alice"), 0.0) == 4


def test_address_limit_stops_spraying_many_user_names():
    t = _throttle()
    passed = sum(t.attempt(keys(user=f"user{i}"), now=0.0) is None for i in range(100))
    assert passed == 20
    refused = t.attempt(keys(user="fresh"), now=0.0)
    assert refused is not None and refused.scope == "ip"


def test_failures_are_forgotten_an_hour_after_the_last_one():
    t = _throttle()
    for _ in range(4):
        t.attempt(keys(), now=0.0)
    assert t.failures(("user", "alice"), 3600.0) == 4
    assert t.failures(("user", "alice"), 3600.5) == 0
    assert len(t) <= 2


def test_memory_is_bounded_by_max_keys():
    t = _throttle(max_keys=100)
    for i in range(1000):
        t.attempt([("user", f"u{i}")], now=float(i))
    assert len(t) == 100
