package datastore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// DefaultSocketPath is where a local (embedded) etcd serves its unix
// socket. When no endpoint is configured and this socket exists, it is used.
const DefaultSocketPath = "/var/run/calico/etcd.sock"

// DefaultTCPEndpoint is used when no endpoint is configured and
// DefaultSocketPath does not exist.
const DefaultTCPEndpoint = "http://127.0.0.1:2379"

// Default timeouts applied when Config leaves them zero.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// Environment variables read by ConfigFromEnv and BindFlags (the names
// upstream calicoctl uses).
const (
	EnvEndpoints = "ETCD_ENDPOINTS"
	EnvCertFile  = "ETCD_CERT_FILE"
	EnvKeyFile   = "ETCD_KEY_FILE"
	EnvCAFile    = "ETCD_CA_CERT_FILE"
)

// Config says how to reach etcd.
//
// Endpoints are URLs: http://host:port, https://host:port (TLS), or
// unix:///absolute/path.sock for a unix socket. The etcd client reads
// "unix://" followed by an absolute path (hence three slashes) as that
// path; unix://relative.sock is a path relative to the working directory.
// unixs:// is a unix socket with TLS.
type Config struct {
	Endpoints []string
	// CertFile and KeyFile are a PEM client certificate and key for TLS
	// client authentication; CAFile is the PEM CA bundle that signed the
	// servers' certificates (system roots when empty).
	CertFile, KeyFile, CAFile string
	// DialTimeout bounds connection set-up (DefaultDialTimeout when 0).
	DialTimeout time.Duration
	// RequestTimeout bounds every single request, including each page of
	// a List (DefaultRequestTimeout when 0). Watches are not bounded.
	RequestTimeout time.Duration
}

// ConfigFromEnv returns a Config filled from ETCD_ENDPOINTS (comma
// separated), ETCD_CERT_FILE, ETCD_KEY_FILE and ETCD_CA_CERT_FILE.
// Endpoints stay empty when ETCD_ENDPOINTS is unset: NewEtcd then picks
// DefaultEndpoints.
func ConfigFromEnv() Config {
	return Config{
		Endpoints: splitList(os.Getenv(EnvEndpoints)),
		CertFile:  os.Getenv(EnvCertFile),
		KeyFile:   os.Getenv(EnvKeyFile),
		CAFile:    os.Getenv(EnvCAFile),
	}
}

// BindFlags defines --etcd-endpoints, --etcd-cert, --etcd-key and --etcd-ca
// on fs, writing into c. Defaults come from the environment (see
// ConfigFromEnv).
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	env := ConfigFromEnv()
	fs.StringSliceVar(&c.Endpoints, "etcd-endpoints", env.Endpoints,
		"comma-separated etcd endpoints: http://host:port, https://host:port or unix:///path.sock "+
			"(default "+DefaultSocketPath+" if that socket exists, else "+DefaultTCPEndpoint+"; env "+EnvEndpoints+")")
	fs.StringVar(&c.CertFile, "etcd-cert", env.CertFile, "PEM client certificate for etcd TLS (env "+EnvCertFile+")")
	fs.StringVar(&c.KeyFile, "etcd-key", env.KeyFile, "PEM client key for etcd TLS (env "+EnvKeyFile+")")
	fs.StringVar(&c.CAFile, "etcd-ca", env.CAFile, "PEM CA bundle to verify etcd servers (env "+EnvCAFile+")")
}

// DefaultEndpoints is the endpoint list used when none is configured:
// unix://DefaultSocketPath if that socket exists, else DefaultTCPEndpoint.
func DefaultEndpoints() []string {
	return defaultEndpoints(DefaultSocketPath)
}

func defaultEndpoints(socket string) []string {
	if fi, err := os.Stat(socket); err == nil && fi.Mode().Type() == fs.ModeSocket {
		return []string{"unix://" + socket}
	}
	return []string{DefaultTCPEndpoint}
}

// resolvedEndpoints returns the endpoints to dial, checked, with the
// default applied when none are configured.
func (c *Config) resolvedEndpoints() ([]string, error) {
	var eps []string
	for _, ep := range c.Endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return DefaultEndpoints(), nil
	}
	for _, ep := range eps {
		if err := checkEndpoint(ep); err != nil {
			return nil, fmt.Errorf("--etcd-endpoints %q: %w", ep, err)
		}
	}
	return eps, nil
}

func checkEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return errors.New("missing host:port")
		}
	case "unix", "unixs":
		if u.Host+u.Path == "" {
			return errors.New("missing socket path (use unix:///absolute/path.sock)")
		}
	default:
		return errors.New("want http://host:port, https://host:port or unix:///path.sock")
	}
	return nil
}

// TLSConfig builds the client TLS configuration from the certificate
// files. It returns nil when no file is configured and no endpoint needs
// TLS. Errors name the flag and file at fault.
func (c *Config) TLSConfig() (*tls.Config, error) {
	needTLS := c.CertFile != "" || c.KeyFile != "" || c.CAFile != ""
	for _, ep := range c.Endpoints {
		if strings.HasPrefix(ep, "https://") || strings.HasPrefix(ep, "unixs://") {
			needTLS = true
		}
	}
	if !needTLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("--etcd-cert and --etcd-key must be given together")
	}
	if c.CertFile != "" {
		certPEM, err := readFlagFile("--etcd-cert", c.CertFile)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readFlagFile("--etcd-key", c.KeyFile)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert %s with --etcd-key %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if c.CAFile != "" {
		caPEM, err := readFlagFile("--etcd-ca", c.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("--etcd-ca %s: no PEM certificate found", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// readFlagFile reads a file named by a flag; the error reads like
// "--etcd-cert /x: open: no such file or directory".
func readFlagFile(flag, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s %s: %s: %w", flag, path, pe.Op, pe.Err)
		}
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return b, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
