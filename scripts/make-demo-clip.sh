#!/usr/bin/env bash
# Makes the built-in demo clip: a drawn face whose mouth follows espeak-ng speech, plus its
# lip-sync ground truth (per-frame mouth opening). Needs Debian's ffmpeg, espeak-ng, python3-numpy.
#
#   scripts/make-demo-clip.sh                   public/demo/demo.mp4 + public/demo/demo-mouth.json
#   scripts/make-demo-clip.sh [options] OUT     one clip; the container follows OUT's extension
#       --size WxH     frame size (default 256x256; the face is centred in the square part)
#       --fps N        frame rate (default 25)
#       --vfr          variable frame rate: all frames of the first half, every other one after
#       --codec C      h264 (default), hevc (mp4/mkv) or vp9 (webm/mkv)
#       --no-audio     no audio track
#       --json FILE    ground truth (default OUT with .mouth.json)
#   scripts/make-demo-clip.sh --test-clips DIR  the clips that tests use, plus DIR/manifest.json
#
# Deterministic: frames are computed from espeak-ng's samples with numpy and piped raw to the
# encoders, which run single-threaded with bitexact muxing, so the same tool versions give the
# same bytes. Other versions of espeak-ng, x264, libvpx, libx265 or ffmpeg's AAC encoder may
# produce different bytes (espeak-ng may even change the speech and so the mouth track); the
# frames always match the JSON written beside them.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-/usr/bin/python3} # Debian's python: it has numpy
DRAW="$ROOT/tools/demo/draw_face.py"
TEXT="Hello there. This little face learns to move its lips with the sound of speech, one frame at a time."
AUDIO_RATE=48000

for tool in ffmpeg espeak-ng "$PY"; do
  command -v "$tool" >/dev/null || { echo "make-demo-clip: $tool not found (apt-get install -y ffmpeg espeak-ng python3-numpy)" >&2; exit 1; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
espeak-ng -v en-us -s 150 -w "$WORK/speech.wav" "$TEXT"

# make_clip OUT JSON SIZE FPS VFR(0|1) CODEC AUDIO(0|1) [FASTSTART(1|0)]
make_clip() {
  local out=$1 json=$2 size=$3 fps=$4 vfr=$5 codec=$6 audio=$7 faststart=${8:-1}
  local ext=${out##*.} tag="$WORK/$(basename "$out")"
  local vfr_flag=() rate_flag=()
  [[ $vfr == 1 ]] && vfr_flag=(--vfr)
  [[ $audio == 1 ]] && rate_flag=(--audio-rate "$AUDIO_RATE")
  local n
  n=$("$PY" "$DRAW" prepare --speech "$WORK/speech.wav" --padded "$tag.wav" --json "$json" \
    --size "$size" --fps "$fps" --text "$TEXT" "${vfr_flag[@]}" "${rate_flag[@]}")

  local video=() audio_args=() filter=() mux=()
  case $codec in
    h264) video=(-c:v libx264 -preset medium -crf 20 -profile:v high -threads 1 -g $((fps * 2))) ;;
    hevc) video=(-c:v libx265 -preset medium -crf 24 -tag:v hvc1 -x265-params "log-level=error:pools=1:frame-threads=1") ;;
    vp9) video=(-c:v libvpx-vp9 -crf 32 -b:v 0 -deadline good -cpu-used 2 -row-mt 0 -threads 1 -g $((fps * 2))) ;;
    *) echo "make-demo-clip: unknown codec $codec" >&2; return 1 ;;
  esac
  if [[ $audio == 1 ]]; then
    if [[ $ext == webm ]]; then audio_args=(-c:a libopus -b:a 48k); else audio_args=(-c:a aac -b:a 64k); fi
    audio_args=(-map 1:a "${audio_args[@]}" -ar "$AUDIO_RATE" -ac 1)
  fi
  # Same rule as vfr_keep() in draw_face.py.
  [[ $vfr == 1 ]] && filter=(-vf "select='lt(n\,$((n / 2)))+not(mod(n\,2))'" -fps_mode vfr)
  [[ $ext == mp4 && $faststart == 1 ]] && mux=(-movflags +faststart)

  "$PY" "$DRAW" render --padded "$tag.wav" --size "$size" --fps "$fps" |
    ffmpeg -hide_banner -loglevel error -y \
      -f rawvideo -pix_fmt rgb24 -s "$size" -framerate "$fps" -i pipe:0 -i "$tag.wav" \
      -map 0:v "${filter[@]}" "${video[@]}" -pix_fmt yuv420p "${audio_args[@]}" \
      -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact "${mux[@]}" "$out"
}

# The clips that tests need; DIR/manifest.json says what each one is (and what was skipped).
make_test_clips() {
  local dir=$1 entries=() skipped=()
  mkdir -p "$dir"
  add() { # name file codec audio size fps vfr
    make_clip "$dir/$2" "$dir/${2%.*}.mouth.json" "$5" "$6" "$7" "$3" "$4"
    entries+=("  \"$1\": {\"file\": \"$2\", \"mouth\": \"${2%.*}.mouth.json\", \"video\": \"$3\", \"audio\": $4, \"size\": \"$5\", \"fps\": $6, \"vfr\": $7}")
  }
  add square demo.mp4 h264 1 256x256 25 0
  add landscape landscape-320x240.mp4 h264 1 320x240 25 0
  add portrait portrait-240x320.mp4 h264 1 240x320 25 0
  add fps30 fps30.mp4 h264 1 256x256 30 0
  add vfr vfr.mp4 h264 1 256x256 30 1
  add webm vp9-opus.webm vp9 1 256x256 25 0
  add mkv h264-aac.mkv h264 1 256x256 25 0
  add no_audio no-audio.mp4 h264 0 256x256 25 0
  if ffmpeg -hide_banner -encoders 2>/dev/null | grep libx265 >/dev/null; then
    add hevc hevc.mp4 hevc 1 256x256 25 0
  else
    skipped+=("\"hevc\"")
  fi
  # Broken files: empty; moov first but mdat cut short; moov lost with the tail.
  : >"$dir/empty.mp4"
  head -c $(($(stat -c %s "$dir/demo.mp4") / 2)) "$dir/demo.mp4" >"$dir/truncated.mp4"
  make_clip "$WORK/tail-moov.mp4" "$WORK/tail-moov.json" 256x256 25 0 h264 1 0
  head -c $(($(stat -c %s "$WORK/tail-moov.mp4") / 2)) "$WORK/tail-moov.mp4" >"$dir/truncated-no-moov.mp4"
  entries+=("  \"empty\": {\"file\": \"empty.mp4\", \"broken\": true}")
  entries+=("  \"truncated\": {\"file\": \"truncated.mp4\", \"broken\": true}")
  entries+=("  \"truncated_no_moov\": {\"file\": \"truncated-no-moov.mp4\", \"broken\": true}")
  {
    echo "{"
    local IFS=$'\n'
    printf '%s,\n' "${entries[@]}"
    echo "  \"skipped\": [$(IFS=,; echo "${skipped[*]}")]"
    echo "}"
  } >"$dir/manifest.json"
}

size=256x256 fps=25 vfr=0 codec=h264 audio=1 json="" out=""
while (($#)); do
  case $1 in
    --test-clips) make_test_clips "$2"; exit 0 ;;
    --size) size=$2; shift ;;
    --fps) fps=$2; shift ;;
    --vfr) vfr=1 ;;
    --codec) codec=$2; shift ;;
    --no-audio) audio=0 ;;
    --json) json=$2; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "make-demo-clip: unknown option $1" >&2; exit 1 ;;
    *) out=$1 ;;
  esac
  shift
done
if [[ -z $out ]]; then
  mkdir -p "$ROOT/public/demo"
  out="$ROOT/public/demo/demo.mp4" json=${json:-$ROOT/public/demo/demo-mouth.json}
fi
make_clip "$out" "${json:-${out%.*}.mouth.json}" "$size" "$fps" "$vfr" "$codec" "$audio"
