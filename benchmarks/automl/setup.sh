#!/usr/bin/env bash
# Installs what the AutoML benchmark needs, with pinned versions, without touching aiforge's pins:
#   .venv (the project's own)           aiforge itself, LightGBM defaults, Optuna+LightGBM, the harness
#   benchmarks/automl/.venv-flaml       FLAML 2.x (+ LightGBM, xgboost-cpu): needs pandas < 3
#   benchmarks/automl/.venv-autogluon   AutoGluon-Tabular 1.6.x: needs pandas < 2.4 and pyarrow < 25
# Usage: bash benchmarks/automl/setup.sh [all|main|flaml|autogluon]...   (default: all)
# Re-running is cheap: pip skips what is already installed at the pinned version.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3.11}"

# Shared by both peer venvs (pandas 2.x line, numpy that pandas 2.3 supports).
COMMON_PINS=(numpy==2.3.5 pandas==2.3.3 scipy==1.17.1 scikit-learn==1.9.1 joblib==1.6.0)

log() { printf '\n== %s\n' "$*"; }

make_venv() {  # make_venv DIR: a fresh venv with a current pip
  local dir="$1"
  if [[ ! -x "$dir/bin/python" ]]; then
    "$PYTHON" -m venv "$dir"
  fi
  "$dir/bin/python" -m pip install --quiet --upgrade "pip==25.3"
}

setup_main() {
  log "project .venv: harness extras (optuna, statsmodels for its bundled data sets)"
  if [[ ! -x "$ROOT/.venv/bin/aiforge" ]]; then
    echo "no $ROOT/.venv/bin/aiforge: run 'make demo' (or create .venv and pip install -e .) first" >&2
    exit 2
  fi
  # -c constraints.txt keeps every package aiforge pins where it is.
  "$ROOT/.venv/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt" \
    optuna==5.0.0 statsmodels==0.15.0
}

setup_flaml() {
  log "FLAML venv: $HERE/.venv-flaml"
  make_venv "$HERE/.venv-flaml"
  # flaml[automl] asks for xgboost<3, whose Linux wheel pulls CUDA libraries: install the same
  # code as xgboost-cpu instead, and flaml itself without the extra.
  "$HERE/.venv-flaml/bin/python" -m pip install --quiet \
    "${COMMON_PINS[@]}" pyarrow==24.0.0 lightgbm==4.7.0 xgboost-cpu==2.1.4 flaml==2.7.0
}

setup_autogluon() {
  log "AutoGluon venv: $HERE/.venv-autogluon"
  make_venv "$HERE/.venv-autogluon"
  # The model families of presets=medium_quality: LightGBM, CatBoost, XGBoost, random forests,
  # extra trees, k-NN and the torch MLP (NN_TORCH). torch is pinned to the local CPU wheel so pip
  # never resolves a CUDA build; FastAI (needs spacy & fastai) is left out and skipped by AutoGluon.
  "$HERE/.venv-autogluon/bin/python" -m pip install --quiet \
    "${COMMON_PINS[@]}" pyarrow==24.0.0 "torch==2.13.0+cpu" \
    "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" lightgbm==4.7.0 catboost==1.2.10 xgboost-cpu==3.2.0
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(all)
for t in "${targets[@]}"; do
  case "$t" in
    all) setup_main; setup_flaml; setup_autogluon ;;
    main) setup_main ;;
    flaml) setup_flaml ;;
    autogluon) setup_autogluon ;;
    *) echo "unknown target '$t' (all|main|flaml|autogluon)" >&2; exit 2 ;;
  esac
done
log "done"
