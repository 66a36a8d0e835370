package web

import (
	"fmt"
	"net/url"
	"strings"
)

// LinkSet is a served workshop's links: the board's, the claim page's and
// each seat's, each with its token.
type LinkSet struct {
	Base        string
	Board       string
	Claim       string
	Seats       []string // seat N's at N-1
	Fingerprint string   // the certificate's SHA-256
}

// Links makes the links of a workshop served at base.
func Links(base *url.URL, sec *Secrets, seats int, fingerprint string) LinkSet {
	b := strings.TrimSuffix(base.String(), "/")
	l := LinkSet{Base: b, Board: b + "/board/?t=" + sec.Instructor, Claim: b + "/claim/?t=" + sec.Claim, Fingerprint: fingerprint}
	for n := 1; n <= seats; n++ {
		l.Seats = append(l.Seats, SeatLink(base, n, sec.seat(n)))
	}
	return l
}

// SeatLink is seat n's link.
func SeatLink(base *url.URL, n int, token string) string {
	return fmt.Sprintf("%s/seat/%d/?t=%s", strings.TrimSuffix(base.String(), "/"), n, token)
}

// Text is the links as a file: keep it to yourself, each line opens what
// it says.
func (l LinkSet) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# labctl workshop serve: every link opens what it names; the board's is the instructor's alone\n")
	fmt.Fprintf(&b, "# certificate SHA-256 %s\nboard %s\nclaim %s\n", l.Fingerprint, l.Board, l.Claim)
	for i, s := range l.Seats {
		fmt.Fprintf(&b, "seat-%02d %s\n", i+1, s)
	}
	return b.String()
}
