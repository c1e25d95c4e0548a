package tandem

import (
	"context"
	"slices"
)

// IntrospectionService is the name of the service every [Server] registers to describe
// itself. Its one method, Describe, takes no arguments and returns []ServiceInfo:
//
//	var services []tandem.ServiceInfo
//	err := peer.Call(ctx, "Tandem.Describe", &services)
const IntrospectionService = "Tandem"

// ServiceInfo describes one registered service.
type ServiceInfo struct {
	Name    string       `json:"name" msgpack:"name"`
	Mode    string       `json:"mode" msgpack:"mode"`
	Methods []MethodInfo `json:"methods" msgpack:"methods"`
}

// MethodInfo describes one method of a service.
type MethodInfo struct {
	Name      string `json:"name" msgpack:"name"`
	Signature string `json:"signature" msgpack:"signature"`
}

func introspectionMethods(s *Server) []Method {
	return []Method{{
		Name:      "Describe",
		Signature: "func(ctx context.Context) ([]tandem.ServiceInfo, error)",
		HasResult: true,
		Invoke: func(ctx context.Context, args Args) (any, error) {
			if err := args.Decode(); err != nil {
				return nil, err
			}
			return s.describe(), nil
		},
	}}
}

func (s *Server) describe() []ServiceInfo {
	services := *s.services.Load()
	out := make([]ServiceInfo, 0, len(services))
	for _, svc := range services {
		info := ServiceInfo{Name: svc.name, Mode: svc.mode.String()}
		for _, name := range svc.order {
			info.Methods = append(info.Methods, MethodInfo{Name: name, Signature: svc.methods[name].Signature})
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ServiceInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
