package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/labctl/labctl/internal/atomicfile"
	"github.com/labctl/labctl/web"
	"github.com/labctl/labctl/workshop"
	"github.com/spf13/cobra"
)

func newWorkshopServeCmd(g *globals) *cobra.Command {
	var listen, public, certFile, keyFile, names string
	var idle time.Duration
	cmd := &cobra.Command{
		Use:   "serve --listen ADDRESS:PORT [--url https://HOST:PORT]",
		Short: "Serve the workshop in the browser: a page per seat with terminals and checks, a live board",
		Long: `Serve the workshop over HTTPS on --listen (and nowhere else):

  - a page per seat, opened by the seat's link (with its secret token): a
    terminal in the browser on each of the seat's nodes, the labs' steps
    with the seat's own values and a copy button each, and a check button
    per lab (and per stage) that runs the lab's checks against what the
    student built. The shells live in this server: a browser that loses
    its connection (Wi-Fi, a closed lid) comes back to the same shell and
    its scrollback. A shell nobody typed into for --idle is closed.
  - the instructor's board, opened by its own link: seats x checks, live,
    with totals per check (where the class is stuck), each seat's status,
    a reset per seat (to right after up, or to a stage) and a snapshot of
    every seat at a stage.
  - a claim page, opened by the claim link: a student types a name and
    gets a free seat's link, instead of a paper card.

The links are printed at the start and written to serve-links.txt in the
workshop's directory (mode 0600); they stay the same when serve is started
again. Without --cert the server makes its own certificate and prints its
SHA-256 fingerprint, which 'workshop cards --url' puts on each card so that
a student can compare it with what the browser shows. A seat's token opens
that seat only; wrong tokens are slowed down per address; a terminal can
reach what the seat's SSH login reaches, nothing more. Stop with Ctrl-C:
the seats stay up.`,
		Example: `  sudo labctl --lab ws workshop serve --listen 192.0.2.10:8443
  sudo labctl --lab ws workshop serve --listen 0.0.0.0:8443 --url https://lab.example.org:8443 --cert lab.pem --key lab.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if listen == "" {
				return usageErr("workshop serve: --listen ADDRESS:PORT is required (the server binds only where told, e.g. --listen 192.0.2.10:8443)")
			}
			ap, err := netip.ParseAddrPort(listen)
			if err != nil {
				return usageErr("--listen %s: %v (give an IP address and a port, e.g. 192.0.2.10:8443)", listen, err)
			}
			base, err := serveURL(ap, public)
			if err != nil {
				return err
			}
			if (certFile == "") != (keyFile == "") {
				return usageErr("--cert and --key go together")
			}
			if idle < time.Minute {
				return usageErr("--idle %s: at least 1m", idle)
			}
			c, err := g.catalog()
			if err != nil {
				return err
			}
			w := g.workshopRunner(4)
			seats, err := w.Seats()
			if err != nil {
				return err
			}
			b := &web.WorkshopBackend{Runner: w, Exercises: c.All()}
			if names != "" {
				if b.Names, err = workshop.ReadNames(names, len(seats)); err != nil {
					return usageErr("--names: %v", err)
				}
			}
			dir, err := workshop.Dir(g.lab)
			if err != nil {
				return err
			}
			var cert tls.Certificate
			if certFile != "" {
				cert, err = web.LoadCert(certFile, keyFile)
			} else {
				cert, err = web.SelfSigned(filepath.Join(dir, "serve-cert.pem"), filepath.Join(dir, "serve-key.pem"), certHosts(ap, base))
			}
			if err != nil {
				return err
			}
			sec, err := web.LoadSecrets(filepath.Join(dir, "serve-secrets.json"), len(seats))
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", ap.String())
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			s, err := web.New(cmd.Context(), web.Options{Workshop: g.lab, Backend: b, Secrets: sec, IdleTimeout: idle, Log: g.log})
			if err != nil {
				ln.Close()
				return err
			}
			defer s.Close()
			links := web.Links(base, sec, len(seats), web.Fingerprint(cert))
			if err := atomicfile.Write(filepath.Join(dir, "serve-links.txt"), []byte(links.Text()), 0o600); err != nil {
				ln.Close()
				return err
			}
			fmt.Fprintf(g.stdout, "workshop %s served at %s (%d seats)\n  board (instructor): %s\n  claim a seat:       %s\n  certificate SHA-256: %s\n  every seat's link:  %s\nCtrl-C stops serving; the seats stay up.\n",
				g.lab, base, len(seats), links.Board, links.Claim, links.Fingerprint, filepath.Join(dir, "serve-links.txt"))
			srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
				TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
				// The server's own complaints (a browser that does not yet
				// trust the certificate, a client gone mid-handshake) are
				// for -v.
				ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
			done := make(chan error, 1)
			go func() { done <- srv.ServeTLS(ln, "", "") }()
			select {
			case err := <-done:
				return err
			case <-cmd.Context().Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			fmt.Fprintf(g.stdout, "workshop %s: stopped serving\n", g.lab)
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "ADDRESS:PORT to serve on (required: nothing is served elsewhere)")
	cmd.Flags().StringVar(&public, "url", "", "the address students' browsers use, https://HOST[:PORT] (default: https://the --listen address)")
	cmd.Flags().StringVar(&certFile, "cert", "", "the server's certificate (PEM; default: its own, self-signed)")
	cmd.Flags().StringVar(&keyFile, "key", "", "the certificate's private key (PEM)")
	cmd.Flags().StringVar(&names, "names", "", "a file of students' names, one per line in seat order (as for 'workshop cards')")
	cmd.Flags().DurationVar(&idle, "idle", web.DefaultIdleTimeout, "close a terminal nobody typed into for this long")
	return cmd
}

// serveURL is where browsers reach the server: --url, or the listen
// address when it is one they can use.
func serveURL(ap netip.AddrPort, public string) (*url.URL, error) {
	if public == "" {
		if ap.Addr().IsUnspecified() {
			return nil, usageErr("--listen %s listens on every address: give --url https://HOST:PORT, the address students' browsers use", ap)
		}
		return &url.URL{Scheme: "https", Host: ap.String()}, nil
	}
	u, err := url.Parse(public)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, usageErr("--url %s: give https://HOST[:PORT] and nothing more", public)
	}
	u.Path = ""
	return u, nil
}

// certHosts are the names the self-signed certificate is for.
func certHosts(ap netip.AddrPort, base *url.URL) []string {
	hosts := []string{base.Hostname()}
	if a := ap.Addr().Unmap().String(); !ap.Addr().IsUnspecified() && a != base.Hostname() {
		hosts = append(hosts, a)
	}
	return hosts
}

// browserLinks are the seats' links to 'workshop serve' at serveAt and the
// fingerprint of its certificate (certFile's, or serve's own, made now if
// it has not been).
func (g *globals) browserLinks(w *workshop.Runner, serveAt, certFile string) ([]string, string, error) {
	seats, err := w.Seats()
	if err != nil {
		return nil, "", err
	}
	u, err := serveURL(netip.AddrPort{}, serveAt)
	if err != nil {
		return nil, "", err
	}
	dir, err := workshop.Dir(g.lab)
	if err != nil {
		return nil, "", err
	}
	var cert tls.Certificate
	if certFile != "" {
		data, err := os.ReadFile(certFile)
		if err != nil {
			return nil, "", usageErr("--cert: %v", err)
		}
		if cert, err = web.ParseCert(data); err != nil {
			return nil, "", usageErr("--cert %s: %v", certFile, err)
		}
	} else if cert, err = web.SelfSigned(filepath.Join(dir, "serve-cert.pem"), filepath.Join(dir, "serve-key.pem"), []string{u.Hostname()}); err != nil {
		return nil, "", err
	}
	sec, err := web.LoadSecrets(filepath.Join(dir, "serve-secrets.json"), len(seats))
	if err != nil {
		return nil, "", err
	}
	l := web.Links(u, sec, len(seats), web.Fingerprint(cert))
	return l.Seats, l.Fingerprint, nil
}
