package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/labctl/labctl/internal/atomicfile"
)

// TokenBytes is how many random bytes a token has (256 bits).
const TokenBytes = 32

// Secrets are a served workshop's tokens and the names students claimed
// their seats with, kept (mode 0600) in the workshop's directory so that
// links handed out stay valid when the server is started again.
type Secrets struct {
	Instructor string            `json:"instructor"`
	Claim      string            `json:"claim"`
	Seats      map[string]string `json:"seats"` // seat number -> token
	Names      map[string]string `json:"names"` // seat number -> the name it was claimed with

	mu   sync.Mutex
	file string
}

// NewToken is TokenBytes of crypto/rand, URL-safe.
func NewToken() (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// LoadSecrets reads file (a missing file is a new workshop's), gives
// every seat from 1 to seats a token it lacks and writes the file back.
func LoadSecrets(file string, seats int) (*Secrets, error) {
	s := &Secrets{file: file}
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, s); err != nil {
			return nil, fmt.Errorf("%s: %w (remove it to give every seat a new link)", file, err)
		}
	}
	if s.Seats == nil {
		s.Seats = map[string]string{}
	}
	if s.Names == nil {
		s.Names = map[string]string{}
	}
	fill := func(p *string) error {
		if len(*p) >= 22 { // 128 bits and more
			return nil
		}
		t, err := NewToken()
		*p = t
		return err
	}
	if err := errors.Join(fill(&s.Instructor), fill(&s.Claim)); err != nil {
		return nil, err
	}
	for n := 1; n <= seats; n++ {
		t := s.Seats[strconv.Itoa(n)]
		if err := fill(&t); err != nil {
			return nil, err
		}
		s.Seats[strconv.Itoa(n)] = t
	}
	return s, s.save()
}

func (s *Secrets) save() error {
	if s.file == "" {
		return nil
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.file, append(data, '\n'), 0o600)
}

// seat is seat n's token ("" for a seat it does not know).
func (s *Secrets) seat(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Seats[strconv.Itoa(n)]
}

// name is the name seat n was claimed with.
func (s *Secrets) name(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Names[strconv.Itoa(n)]
}

// claim gives the first seat of 1..seats that nobody claimed (and that
// has no name from the cards) to name.
func (s *Secrets) claim(name string, seats int, taken func(n int) bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := 1; n <= seats; n++ {
		k := strconv.Itoa(n)
		if s.Names[k] != "" || taken(n) {
			continue
		}
		s.Names[k] = name
		if err := s.save(); err != nil {
			delete(s.Names, k)
			return 0, err
		}
		return n, nil
	}
	return 0, errors.New("every seat is taken: ask the instructor")
}

// same compares a presented token with the right one in constant time
// (for tokens of the same length; the length is not the secret).
func same(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
