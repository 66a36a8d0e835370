package topology

import (
	"strings"
	"testing"
)

// A qemu+ssh URI is accepted only when its login, host and port can be
// written as they are into an ssh config and a command line: the percent
// decoding of the URI must not smuggle a new line, a quote or a ProxyCommand
// into either.
func TestLibvirtURIsThatCannotBeWrittenSafely(t *testing.T) {
	for uri, want := range map[string]string{
		"qemu+ssh://x%0AHost%20*%0A%20%20ProxyCommand%20touch%20%2Ftmp%2Fpwned@hv/system": "is not a user name",
		"qemu+ssh://x%0AHost%20*%0A%20%20ProxyCommand%20touch%20/tmp/pwned@hv/system":     "", // refused, whichever way
		"qemu+ssh://root@h%22v/system":                           "",
		"qemu+ssh://root@hv%0AProxyCommand%20x/system":           "",
		"qemu+ssh://root@-oProxyCommand=x/system":                "is not a host name",
		"qemu+ssh://root@hv:0/system":                            "port \"0\": 1 to 65535",
		"qemu+ssh://root@hv:65536/system":                        "1 to 65535",
		"qemu+ssh://root@hv:/system":                             "an empty port",
		"qemu+ssh://root:secret@hv/system":                       "a password in the URI is not supported",
		"qemu+ssh://-root@hv/system":                             "is not a user name",
		"qemu+ssh://ro%20ot@hv/system":                           "is not a user name",
		"qemu+ssh://root@[fe80::1%25eth0]/system":                "is not a host name",
		"qemu+ssh://root@hv..example/system":                     "is not a host name",
		"qemu+ssh://root@999.1.1.1/system":                       "is not a host name",
		"qemu+ssh://root@" + strings.Repeat("a", 64) + "/system": "is not a host name",
	} {
		err := CheckLibvirtURI(uri)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", uri, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the message shows the password: %v", uri, err)
		}
	}
	for _, uri := range []string{"qemu:///system", "qemu+ssh://hv/system", "qemu+ssh://ops@hv1.lab.example:2222/system",
		"qemu+ssh://root@198.51.100.2/system", "qemu+ssh://root@[2001:db8::2]:22/system", "qemu+ssh://lab_user-1@HV-2/system"} {
		if err := CheckLibvirtURI(uri); err != nil {
			t.Errorf("%s: %v", uri, err)
		}
	}
}
