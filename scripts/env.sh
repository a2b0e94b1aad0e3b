# Sourced by the scripts: one shared cargo target dir per machine, kept between runs and clones, so
# a second build (or CI on the same machine) reuses what the first compiled.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/thingbox/target}"
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Pinned tools installed by scripts/setup (wasm-bindgen-cli).
export THINGBOX_TOOLS="${THINGBOX_TOOLS:-$HOME/.cache/thingbox/tools}"
export PATH="$THINGBOX_TOOLS/bin:$PATH"
