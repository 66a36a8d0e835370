package labs

import "strings"

// neighMAC finds ip's MAC in `ip neigh` output.
func neighMAC(out, ip string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == ip {
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "lladdr" {
					return strings.ToLower(f[i+1])
				}
			}
		}
	}
	return ""
}

func prefixLen(subnet string) string {
	_, l, _ := strings.Cut(subnet, "/")
	return l
}
