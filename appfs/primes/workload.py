"""primes: counts the primes below N with a sieve of Eratosthenes."""


def handle(event):
    n = int(event["below"] if isinstance(event, dict) else event)
    if n < 0 or n > 50_000_000:
        raise ValueError("below must be between 0 and 50000000")
    if n < 3:
        return {"below": n, "count": 0, "largest": None}
    sieve = bytearray([1]) * n
    sieve[0:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, n, i)))
    largest = n - 1
    while not sieve[largest]:
        largest -= 1
    return {"below": n, "count": sum(sieve), "largest": largest}
