// Command rcgateway runs the gateway between a product's users and Rocket.Chat.
//
//	rcgateway [serve] [-config path]   run the gateway (default; config from ./config.yaml or RCGW_CONFIG)
//	rcgateway demo [-listen addr]      run with an embedded Rocket.Chat simulator and the web UI
//	rcgateway version                  print version information
//	rcgateway config check [-config p] validate the configuration and print it redacted
//	rcgateway help [command]           usage of every command, or of one (also: command -h)
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

// errHelp marks a help request that was answered (exit status 0).
var errHelp = errors.New("help printed")

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
	err := dispatch(ctx, args, getenv, environ, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, environ []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			cmd, args = "help", args[1:]
		case "-v", "-version", "--version":
			cmd, args = "version", args[1:]
		default:
			if !strings.HasPrefix(args[0], "-") {
				cmd, args = args[0], args[1:]
			}
		}
	}
	cio := cmdIO{stdout: stdout, stderr: stderr}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, environ, cio)
	case "demo":
		return demo(ctx, args, cio)
	case "version":
		fs := cio.flags("version", "", "print the version, the revision and the Go release")
		if err := cio.parse(fs, args); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rcgateway %s\n", versionString())
		return nil
	case "config":
		if len(args) > 0 && (args[0] == "check" || isHelpFlag(args[0])) {
			if args[0] == "check" {
				args = args[1:]
			}
			return configCheck(args, getenv, environ, cio)
		}
		fmt.Fprintln(stderr, "usage: rcgateway config check [-config path]")
		return errUsage
	case "help":
		if len(args) == 0 || args[0] == "help" || isHelpFlag(args[0]) {
			usage(stdout)
			return nil
		}
		// "help X [Y]" is "X [Y] -h": the command prints its own usage.
		topic := append(append([]string(nil), args...), "-h")
		if _, known := commands[args[0]]; !known {
			fmt.Fprintf(stderr, "rcgateway help: unknown command %q\n", args[0])
			usage(stderr)
			return errUsage
		}
		return dispatch(ctx, topic, getenv, environ, stdout, stderr)
	}
	fmt.Fprintf(stderr, "rcgateway: unknown command %q\n", cmd)
	usage(stderr)
	return errUsage
}

// commands are the subcommands "help" knows.
var commands = map[string]bool{"serve": true, "demo": true, "version": true, "config": true, "help": true}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// cmdIO is where a command writes: its output and help to stdout, its logs and mistakes
// to stderr.
type cmdIO struct{ stdout, stderr io.Writer }

// flags returns a command's flag set whose usage names the command and its synopsis.
func (c cmdIO) flags(name, synopsis, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: rcgateway %s %s\n  %s\n", name, synopsis, summary)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "flags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  rcgateway [serve] [-config path]    run the gateway (config: ./config.yaml or $RCGW_CONFIG)
  rcgateway demo [-listen host:port]  try it: embedded Rocket.Chat simulator + web UI
  rcgateway version                   print the version
  rcgateway config check [-config p]  validate and print the configuration (secrets redacted)
  rcgateway help [command]            print this, or a command's usage and flags (also: command -h)
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

// parse parses a command's flags. -h prints the command's usage to stdout (errHelp, exit
// status 0); a mistake prints it to stderr (errUsage, exit status 2).
func (c cmdIO) parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {} // printed below, to the right stream
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(c.stdout)
			fs.Usage()
			return errHelp
		}
		fs.Usage()
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}
