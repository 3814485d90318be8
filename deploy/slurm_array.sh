#!/bin/bash
# Render one dataset with a SLURM job array: array task i of N renders the clips k with k mod N == i.
# `synth render` reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN (so
# --array=1-16 works as well as 0-15; keep the range contiguous, without a step). Every task writes
# into the same dataset folder, on a file system all nodes share; shards never share a clip.
#   sbatch deploy/slurm_array.sh                         # render (edit the lines below first)
#   SYNTH_OUT=/shared/other sbatch deploy/slurm_array.sh # variables are passed on to the job
#   sbatch deploy/slurm_array.sh                         # again: resumes, completed clips are skipped
#   synth status "$SYNTH_OUT"                            # done / failed / remaining
# Threads per worker default to the CPUs SLURM gives the task divided by the workers.
#SBATCH --job-name=synth-render
#SBATCH --array=0-15
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --output=synth-render-%A_%a.log
set -euo pipefail

SYNTH_OUT=${SYNTH_OUT:-$HOME/synth-dataset}
SYNTH_N=${SYNTH_N:-100000}
SYNTH_SEED=${SYNTH_SEED:-0}
SYNTH_WORKERS=${SYNTH_WORKERS:-2}

# SYNTH_ARGS: more `synth render` options, e.g. "--samples 16 --res 320x240" (split on spaces).
# shellcheck disable=SC2086
exec synth render --n "$SYNTH_N" --seed "$SYNTH_SEED" --out "$SYNTH_OUT" --workers "$SYNTH_WORKERS" ${SYNTH_ARGS:-}
