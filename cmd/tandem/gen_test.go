package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenCommand runs 'tandem gen' in process on the generator's test packages.
func TestGenCommand(t *testing.T) {
	testdata := filepath.Join("..", "..", "gen", "testdata")
	out := filepath.Join(t.TempDir(), "calc_tandem.go")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // a substring; "" for none
	}{
		{"ok", []string{"-type", "Calculator", "-output", out, filepath.Join(testdata, "calc")}, exitOK, ""},
		{"no type", []string{filepath.Join(testdata, "calc")}, exitUsage, "-type is required"},
		{"two dirs", []string{"-type", "X", "a", "b"}, exitUsage, "at most one package directory"},
		{"bad flag", []string{"-nope"}, exitUsage, "flag provided but not defined"},
		{"bad methods", []string{"-type", "Bad", filepath.Join(testdata, "bad")}, exitFailure, "Bad.NoContext: the first parameter must be a context.Context, not int\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"gen"}, tt.args...), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if tt.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
	src, err := os.ReadFile(out)
	if err != nil || !bytes.Contains(src, []byte("func NewCalculatorClient(")) {
		t.Fatalf("generated file: %v\n%s", err, src)
	}
}
