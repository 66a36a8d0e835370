package web

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// limiter slows down guessing: each client address may present a wrong
// token BadTokenBurst times, then one more every BadTokenEvery; past that
// every request that needs a token is answered 429, right or wrong, so
// guessing gets nowhere.
type limiter struct {
	mu    sync.Mutex
	m     map[string]*bucket
	burst float64
	every time.Duration
}

// Wrong tokens a client may present at once, and how often it may present
// one more after that.
const (
	BadTokenBurst = 10
	BadTokenEvery = 6 * time.Second
)

type bucket struct {
	left float64
	last time.Time
}

func newLimiter() *limiter {
	return &limiter{m: map[string]*bucket{}, burst: BadTokenBurst, every: BadTokenEvery}
}

func (l *limiter) refill(ip string, now time.Time) *bucket {
	b, ok := l.m[ip]
	if !ok {
		if len(l.m) > 10000 { // forget those that are full again
			for k, o := range l.m {
				if o.left+now.Sub(o.last).Seconds()/l.every.Seconds() >= l.burst {
					delete(l.m, k)
				}
			}
		}
		b = &bucket{left: l.burst, last: now}
		l.m[ip] = b
	}
	b.left = min(l.burst, b.left+now.Sub(b.last).Seconds()/l.every.Seconds())
	b.last = now
	return b
}

// blocked tells whether ip has used up its wrong tokens, and when it may
// try again.
func (l *limiter) blocked(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(ip, now)
	if b.left >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.left) * float64(l.every))
}

// fail counts a wrong token from ip.
func (l *limiter) fail(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(ip, now)
	b.left = max(0, b.left-1)
}

// clientIP is the address the request came from (the server is reached
// directly: no proxy headers are believed).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
