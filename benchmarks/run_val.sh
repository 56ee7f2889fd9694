#!/usr/bin/env bash
# Re-measures every product result committed under benchmarks/ (benchmarks/README.md,
# "Current results"), writing each where the README quotes it from. Run from the repository
# root, with the package installed (pip install -e ".[test]") and the clips in
# ../shared/data/val. Hours on a 2-core CPU: the bench about 45 min, the references bench
# about 30, rate control about 25, memory and the rest minutes each. audio_rates.py needs
# espeak-ng and pystoi. The one-off studies are not run here: benchmarks/studies/README.md.
set -euo pipefail
VAL=${VAL:-../shared/data/val}
OUT=${OUT:-/tmp/imf-bench}

# Rate-distortion of imfcodec (the default model; one key frame and adaptive) against the static
# floor, x264, x265 and SVT-AV1 (also at reduced sizes, and their envelope); BD-rates; plots.
imfcodec bench "$VAL"/*.mp4 --model imf-flow --out "$OUT" --force
mkdir -p benchmarks/val
cp "$OUT"/results.json "$OUT"/bd_rate.json "$OUT"/rd_*.png benchmarks/val/
python benchmarks/summarize.py benchmarks/val/results.json > benchmarks/val/summary.md

# Several references: --adaptive with R = 1 and R = 4 in one run, and R = 4's BD-rate.
imfcodec bench "$VAL"/*.mp4 --codecs imf-adaptive --model imf-flow --references 1,4 --out "$OUT-refs" --force
mkdir -p benchmarks/val/references
cp "$OUT-refs"/results.json benchmarks/val/references/results_r1_r4.json

# Key placement: the same settings with each key frame at its run's start (docs/keyplace.md).
imfcodec bench "$VAL"/*.mp4 --codecs imf,imf-adaptive --qualities 0,3 --key-placement start --out "$OUT-start" --force
mkdir -p benchmarks/val/keyplace
cp "$OUT-start"/results.json benchmarks/val/keyplace/start_q0_q3.json

# Rate control: every val clip at 4, 8 and 16 kbps (exits 1 if a clip misses by > 10 %).
python benchmarks/rate_control.py "$VAL" --targets 4k,8k,16k --json > benchmarks/val/rate_control.json

# Key frames alone: x265 and SVT-AV1 intra, bytes against quality; x265 tunings compared.
python benchmarks/keyframe_codecs.py "$VAL" --json > benchmarks/val/keyframe_codecs.json
python benchmarks/keyframe_codecs.py "$VAL" --stride 20 --json \
    --hevc-tunings "preset=medium;preset=veryslow;preset=medium,tune=ssim;preset=veryslow,tune=ssim;preset=placebo,tune=ssim" \
    > benchmarks/val/keyframe_tunings.json

# Speed of each preset, and peak memory of encode against clip length (synthetic clips).
python benchmarks/speed.py --json > benchmarks/val/speed.json
mkdir -p benchmarks/synthetic
python benchmarks/memory.py --frames 100,1000 --bitrate 8k --json > benchmarks/synthetic/memory.json

# Sound at each --audio-bitrate.
mkdir -p benchmarks/audio
python benchmarks/audio_rates.py --rates 6k,8k,10k,12k,16k,24k,32k --json > benchmarks/audio/rates.json

# imfcodec animate on the val clips (side-by-side mp4s in $OUT-animate, not for the repository).
python benchmarks/animate_demo.py "$VAL" --out "$OUT-animate" --json > benchmarks/val/animate.json

# The clips' own picture size: imfcodec beside x265 and SVT-AV1 at that size (../shared/data/native),
# and peak memory at 720p and 1080p (synthetic clips).
mkdir -p benchmarks/native
python benchmarks/native/rd.py "$(dirname "$VAL")/native" --json > benchmarks/native/results.json
python benchmarks/memory.py --size 1280x720 --frames 60,240 --json > benchmarks/native/memory_720p.json
python benchmarks/memory.py --size 1920x1080 --frames 60,240 --json > benchmarks/native/memory_1080p.json

# Live calls (issue 39): what being causal costs against the file mode, on the val clips; a
# call on loopback for 10 minutes (latency, rate, quality against the file mode, memory).
python benchmarks/live/causal.py "$VAL" --json --out benchmarks/val/causal.json
python benchmarks/live/call.py --seconds 600 --json --out benchmarks/live/results.json

# The .imf reader against damaged files (prints its counts; exits 1 on any failure).
python benchmarks/fuzz_imf.py --cases 10000 --cli-every 200
