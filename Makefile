# Everyday tasks; .ci/run is what CI runs.
STATICCHECK = go run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test lint bench generate check-generate ci

test: ## the README's test command: every package under the race detector
	go test -race -count=1 ./...

lint: ## gofmt, go vet and staticcheck, on the core module and the bench module
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...
	$(STATICCHECK) ./...
	cd bench && go vet ./... && $(STATICCHECK) ./...

bench: ## the suite against raw TCP, net/rpc and gRPC-Go (about 3 minutes), then the microbenchmarks
	cd bench && go run ./cmd/tandembench
	go test -run '^$$' -bench . -benchmem . ./wire ./codec/...

generate: ## regenerate the checked-in generated code and the generator's golden files
	go generate ./examples/... ./internal/conformance/...
	cd bench && go generate ./internal/benchsvc/
	cd gen && go test -update .

check-generate: generate ## fail if the checked-in generated code is not what the generator writes now
	git diff --exit-code -- '*_tandem.go' 'gen/testdata/*.golden'

ci: ## what CI runs
	./.ci/run
