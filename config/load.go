package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the YAML file at path over Default (path "" skips the file), then applies the
// RCGW_* variables found in environ ("KEY=value" strings, as os.Environ returns). It does
// not validate; call Validate.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: read %s: %w", path, err)
		}
		if err := Parse(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&cfg, environ, os.ReadFile); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Parse decodes YAML over cfg. Unknown keys and values of the wrong type are errors, each
// named by its key path and line, an unknown key with the closest known one.
func Parse(b []byte, cfg *Config) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("parse yaml: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	var problems []string
	checkNode(doc.Content[0], reflect.TypeFor[Config](), "", &problems)
	if len(problems) > 0 {
		return fmt.Errorf("parse yaml:\n  %s", strings.Join(problems, "\n  "))
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse yaml: %w", err)
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkNode walks n against the Config type t, collecting a problem per unknown key and
// per value that does not decode into its field.
func checkNode(n *yaml.Node, t reflect.Type, path string, problems *[]string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	isStruct := t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType)
	if !isStruct {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			*problems = append(*problems, fmt.Sprintf("line %d: %s: %s", n.Line, path, decodeMessage(err)))
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		*problems = append(*problems, fmt.Sprintf("line %d: %s: want a mapping, got a %s", n.Line, orTop(path), kindName(n.Kind)))
		return
	}
	fields := map[string]reflect.StructField{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = f
			names = append(names, name)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		full := join(path, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			msg := fmt.Sprintf("line %d: %s: unknown key", k.Line, full)
			if near := closest(k.Value, names); near != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", join(path, near))
			} else if paths := elsewhere(k.Value); len(paths) > 0 {
				msg += fmt.Sprintf(" (known as %s)", strings.Join(paths, ", "))
			}
			*problems = append(*problems, msg)
			continue
		}
		checkNode(v, f.Type, full, problems)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// decodeMessage strips yaml's "unmarshal errors / line N:" framing; the caller adds its own.
func decodeMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
			msg = rest
		}
		return msg
	}
	return err.Error()
}

// closest is the known key nearest to key by edit distance, or "" when none is near.
func closest(key string, known []string) string {
	best, bestD := "", len(key)/3+2
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// elsewhere lists the full key paths whose last segment is key (a key under the wrong section).
func elsewhere(key string) []string {
	var out []string
	for _, l := range leaves() {
		if l.path == key || strings.HasSuffix(l.path, "."+key) {
			out = append(out, l.path)
		}
	}
	return out
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// leaf is one settable key.
type leaf struct {
	path  string // rocketchat.admin.password
	env   string // RCGW_ROCKETCHAT__ADMIN__PASSWORD
	index []int
	typ   reflect.Type
}

var secretType = reflect.TypeFor[Secret]()

func leaves() []leaf {
	var out []leaf
	var walk func(t reflect.Type, path, env []string, index []int)
	walk = func(t reflect.Type, path, env []string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := append(append([]string(nil), path...), name)
			e := append(append([]string(nil), env...), strings.ToUpper(name))
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, p, e, idx)
				continue
			}
			out = append(out, leaf{
				path:  strings.Join(p, "."),
				env:   EnvPrefix + strings.Join(e, "__"),
				index: idx,
				typ:   f.Type,
			})
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil, nil)
	return out
}

func (l leaf) secret() bool {
	return l.typ == secretType || (l.typ.Kind() == reflect.Slice && l.typ.Elem() == secretType)
}

// EnvName returns the environment variable for a key path such as "rocketchat.url", or ""
// when there is no such key.
func EnvName(path string) string {
	for _, l := range leaves() {
		if l.path == path {
			return l.env
		}
	}
	return ""
}

// Keys lists every leaf key path with its environment variable, for documentation.
func Keys() [][2]string {
	var out [][2]string
	for _, l := range leaves() {
		out = append(out, [2]string{l.path, l.env})
	}
	return out
}

// ApplyEnv sets the leaves named by RCGW_* entries of environ. readFile reads *_FILE
// variants. Every problem is reported, joined.
func ApplyEnv(cfg *Config, environ []string, readFile func(string) ([]byte, error)) error {
	byEnv := map[string]leaf{}
	for _, l := range leaves() {
		byEnv[l.env] = l
	}
	direct := map[string]string{}
	files := map[string]string{}
	var errs []error
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) || k == EnvConfigPath {
			continue
		}
		if _, known := byEnv[k]; known {
			direct[k] = v
			continue
		}
		if base, isFile := strings.CutSuffix(k, "_FILE"); isFile {
			if l, known := byEnv[base]; known {
				if !l.secret() {
					errs = append(errs, fmt.Errorf("config: %s: *_FILE is only for secrets (%s is not one)", k, l.path))
					continue
				}
				files[base] = v
				continue
			}
		}
		errs = append(errs, fmt.Errorf("config: unknown environment variable %s (see config package docs for the naming rule)", k))
	}
	names := make([]string, 0, len(byEnv))
	for k := range byEnv {
		names = append(names, k)
	}
	sort.Strings(names)
	root := reflect.ValueOf(cfg).Elem()
	for _, name := range names {
		l := byEnv[name]
		v, ok := direct[name]
		if !ok {
			fp, okf := files[name]
			if !okf {
				continue
			}
			b, err := readFile(fp)
			if err != nil {
				errs = append(errs, fmt.Errorf("config: %s_FILE: %w", name, err))
				continue
			}
			v = strings.TrimRight(string(b), "\r\n")
		}
		if err := setLeaf(root.FieldByIndex(l.index), v); err != nil {
			errs = append(errs, fmt.Errorf("config: %s (%s): %w", name, l.path, err))
		}
	}
	return errors.Join(errs...)
}

func setLeaf(f reflect.Value, v string) error {
	if f.Kind() == reflect.Slice {
		out := reflect.MakeSlice(f.Type(), 0, 4)
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			e := reflect.New(f.Type().Elem())
			if err := decodeScalar(part, e.Interface()); err != nil {
				return err
			}
			out = reflect.Append(out, e.Elem())
		}
		f.Set(out)
		return nil
	}
	p := reflect.New(f.Type())
	if err := decodeScalar(v, p.Interface()); err != nil {
		return err
	}
	f.Set(p.Elem())
	return nil
}

// decodeScalar decodes one environment value through YAML's scalar rules, so custom
// types (Duration, ByteSize) parse the same as in the file. Strings are taken verbatim.
func decodeScalar(v string, into any) error {
	switch p := into.(type) {
	case *string:
		*p = v
		return nil
	case *Secret:
		*p = Secret(v)
		return nil
	case *bool:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1", "yes", "on":
			*p = true
		case "false", "0", "no", "off", "":
			*p = false
		default:
			return fmt.Errorf("invalid boolean %q", v)
		}
		return nil
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
	return n.Decode(into)
}
