// Package notiface declares names the generator would declare.
package notiface

import "context"

// Store is fine, but the package declares StoreContract itself.
type Store interface {
	Get(ctx context.Context, key string) (string, error)
}

// StoreContract clashes with generated code.
var StoreContract = 1
