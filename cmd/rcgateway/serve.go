package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	"github.com/rcgateway/rcgateway/config"
	"github.com/rcgateway/rcgateway/gateway"
	"github.com/rcgateway/rcgateway/web"
)

func versionString() string {
	rev := revision
	if rev == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
	}
	v := gateway.VersionInfo(version, rev)
	return fmt.Sprintf("%s (revision %s, %s)", v["version"], orNone(v["revision"]), v["go"])
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// loadConfig resolves the config path (-config, else $RCGW_CONFIG, else ./config.yaml if it
// exists) and loads it with the environment overrides.
func loadConfig(path string, getenv func(string) string, environ []string) (config.Config, string, error) {
	if path == "" {
		path = getenv(config.EnvConfigPath)
	}
	if path == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			path = "config.yaml"
		} else if !errors.Is(err, fs.ErrNotExist) {
			return config.Config{}, "", fmt.Errorf("config: %w", err)
		}
	}
	cfg, err := config.Load(path, environ)
	return cfg, path, err
}

func serve(ctx context.Context, args []string, getenv func(string) string, environ []string, cio cmdIO) error {
	stderr := cio.stderr
	fs := cio.flags("serve", "[-config path] [-pprof addr]", "run the gateway (the default command); every config key can be overridden with RCGW_<PATH>")
	path := fs.String("config", "", "config file (default $RCGW_CONFIG or ./config.yaml)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060; off by default, keep it private)")
	if err := cio.parse(fs, args); err != nil {
		return err
	}
	cfg, used, err := loadConfig(*path, getenv, environ)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	log.Info("rcgateway starting", "version", version, "config_file", used, "config", cfg)
	srv, err := gateway.New(gateway.Options{Config: cfg, Logger: log, Version: version, Revision: revision, Web: web.Handler()})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		closeUnserved(ctx, srv, cfg)
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Listen, err)
	}
	log.Info("rcgateway listening", "addr", ln.Addr().String(), "hub", cfg.Hub.Path)
	if *pprofAddr != "" {
		stop, err := servePprof(*pprofAddr)
		if err != nil {
			ln.Close()
			closeUnserved(ctx, srv, cfg)
			return err
		}
		defer stop()
		log.Info("pprof listening", "addr", *pprofAddr)
	}
	return srv.Serve(ctx, ln)
}

// servePprof serves the runtime profiles on their own listener until stop is called.
func servePprof(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	return func() {
		_ = hs.Close()
		<-done
	}, nil
}

func configCheck(args []string, getenv func(string) string, environ []string, cio cmdIO) error {
	stdout := cio.stdout
	fs := cio.flags("config check", "[-config path]", "validate the configuration and print it with secrets redacted")
	path := fs.String("config", "", "config file (default $RCGW_CONFIG or ./config.yaml)")
	if err := cio.parse(fs, args); err != nil {
		return err
	}
	cfg, used, err := loadConfig(*path, getenv, environ)
	if err != nil {
		return err
	}
	if used == "" {
		used = "(no file: defaults + environment)"
	}
	fmt.Fprintf(stdout, "# rcgateway configuration from %s (secrets redacted)\n%s", used, cfg.YAML())
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	fmt.Fprintln(stdout, "# configuration OK")
	return nil
}

// closeUnserved stops what gateway.New started when the server will not be served,
// within shutdown.timeout.
func closeUnserved(ctx context.Context, srv *gateway.Server, cfg config.Config) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Shutdown.Timeout.D())
	defer cancel()
	_ = srv.Close(c)
}
