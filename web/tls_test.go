package web

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The server's own certificate: made for its hosts, kept (key 0600) and
// used again while it covers them, made anew for a host it lacks; its
// fingerprint as browsers show it, also from the PEM file alone.
func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	a, err := SelfSigned(cf, kf, []string{"198.51.100.1", "lab.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(a.Certificate[0])
	if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "198.51.100.1" || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "lab.example.org" {
		t.Errorf("SANs: %v %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if fi, _ := os.Stat(kf); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode())
	}
	fp := Fingerprint(a)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint %q", fp)
	}
	b, err := SelfSigned(cf, kf, []string{"198.51.100.1"})
	if err != nil || Fingerprint(b) != fp {
		t.Errorf("a certificate that covers the host was not used again: %v", err)
	}
	c, err := SelfSigned(cf, kf, []string{"198.51.100.2"})
	if err != nil || Fingerprint(c) == fp {
		t.Errorf("a certificate was used for a host it lacks: %v", err)
	}
	data, _ := os.ReadFile(cf)
	if p, err := ParseCert(data); err != nil || Fingerprint(p) != Fingerprint(c) {
		t.Errorf("ParseCert: %v", err)
	}
	if _, err := ParseCert([]byte("nothing")); err == nil {
		t.Error("ParseCert took a file without a certificate")
	}
}
