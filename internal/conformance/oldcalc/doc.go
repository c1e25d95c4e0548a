// Package oldcalc is an older version of the conformance Calculator contract, for testing
// that a client built from it fails early, listing the methods that differ.
package oldcalc
