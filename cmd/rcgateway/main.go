// Command rcgateway runs the gateway between a product's users and Rocket.Chat.
//
//	rcgateway [serve] [-config path]   run the gateway (default; config from ./config.yaml or RCGW_CONFIG)
//	rcgateway demo [-listen addr]      run with an embedded Rocket.Chat simulator and the web UI
//	rcgateway version                  print version information
//	rcgateway config check [-config p] validate the configuration and print it redacted
//
// main is the only place that calls os.Exit; everything else returns errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Set with -ldflags "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = ""
)

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Environ(), os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "rcgateway:", err)
		os.Exit(1)
	}
}

// run dispatches the subcommand. It never exits the process.
func run(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, environ, stderr)
	case "demo":
		return demo(ctx, args, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "rcgateway %s\n", versionString())
		return nil
	case "config":
		if len(args) == 0 || args[0] != "check" {
			fmt.Fprintln(stderr, "usage: rcgateway config check [-config path]")
			return errUsage
		}
		return configCheck(args[1:], getenv, environ, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	fmt.Fprintf(stderr, "rcgateway: unknown command %q\n", cmd)
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  rcgateway [serve] [-config path]    run the gateway (config: ./config.yaml or $RCGW_CONFIG)
  rcgateway demo [-listen host:port]  try it: embedded Rocket.Chat simulator + web UI
  rcgateway version                   print the version
  rcgateway config check [-config p]  validate and print the configuration (secrets redacted)
Every config key can be overridden with RCGW_<PATH> (segments joined by "__"),
e.g. RCGW_ROCKETCHAT__URL; secrets also accept RCGW_<PATH>_FILE.
`)
}

// newLogger builds the process logger from log.level and log.format.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseFlags parses a flag set, turning -h and mistakes into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}
