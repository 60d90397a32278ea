"""Texts CLIP and CLIPSeg cut at 77 tokens are said, not hidden: the note names how much was
read, in Match's and the edit list's score tables, Rank Edits' and the candidates' ranking
tables, CLIPSeg's regions, guidance and the CLI's output (tiny real tokenizers: their vocabulary
is letters, so a word of two letters is two tokens)."""

from __future__ import annotations

import torch
from rigs import point_text_at, solid

from pinpoint.cli import main
from pinpoint.clip_embed import clip_notes, embed_text
from pinpoint.edit_list import EditLine, EditSettings, match_edits
from pinpoint.guidance import GuidanceRecipe, guidance_notes
from pinpoint.guidance_settings import GuidanceSettings
from pinpoint.heatmap import HeatmapRequest, find_by_heat
from pinpoint.images import save_image
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, CLIPSEG
from pinpoint.match import MatchRequest, format_scores, match_text
from pinpoint.metrics import MetricsRequest
from pinpoint.ranking import RankSettings, RankTarget, rank_candidates, rank_edits
from pinpoint.regions import ImageRegions, Region, RegionBatch
from pinpoint.text_limits import cut_note

ROOM = 75
"""Tokens CLIP reads between its start and end tokens."""
LONG = "the green one " + "ab " * 10_000  # about 20,000 characters: "ab" is 2 tokens here
CUT = "the text was cut to CLIP's 77 tokens"


def test_a_short_text_gets_no_note_and_a_long_one_says_how_much_was_read(clip):
    tokenizer = clip.processor.tokenizer
    assert cut_note(tokenizer, "the green one") == ""
    words = ["ab"] * 100
    note = cut_note(tokenizer, " ".join(words))
    read = ROOM // 2  # 37 whole words of 2 tokens each
    assert note == (f"{CUT}: it read 'ab ab ab ab ab ab … ab ab ab ab' ({read} of 100 words)")
    # what the tokenizer keeps when it truncates is exactly those words and part of the next
    kept = tokenizer(" ".join(words), truncation=True)["input_ids"]
    whole = tokenizer(" ".join(words[:read]))["input_ids"]
    assert len(kept) == 77 and kept[: len(whole) - 1] == whole[:-1]
    assert len(tokenizer(" ".join(words[: read + 1]))["input_ids"]) > 77
    assert cut_note(tokenizer, " ".join(words[:read])) == ""  # exactly 77 with start and end
    assert "only part of the first word" in cut_note(tokenizer, "x" * 20_000)
    assert "(35 of 10,003 words)" in clip_notes(clip, LONG)[0]


def test_match_says_the_text_was_cut_and_indeed_reads_no_further(tiny_models):
    rigged = point_text_at(load_model(CLIP, tiny_models["clip"]), solid("green"), "the green one")
    image = torch.rand(1, 32, 32, 3)
    regions = RegionBatch((ImageRegions(32, 32, (Region((0, 0, 16, 16), "a", 0.5, "t"),)),))
    result = match_text(MatchRequest(rigged, image, regions, LONG))
    assert result.note.startswith(CUT) and "(35 of 10,003 words)" in result.note
    table = format_scores(result.scored, result.chosen, result.note)
    assert table.splitlines()[0] == f"note: {result.note}"
    assert match_text(MatchRequest(rigged, image, regions, "the green one")).note == ""
    # what follows the 75th token changes nothing: CLIP never read it
    assert torch.equal(embed_text(rigged, LONG), embed_text(rigged, LONG + " zz" * 50))


def test_edit_list_score_tables_carry_the_note(clip):
    image = torch.rand(1, 32, 32, 3)
    found = RegionBatch((ImageRegions(32, 32, (Region((0, 0, 16, 16), "a", 0.5, "t"),)),))
    edits = [EditLine(LONG, "a cat"), EditLine("the dog", "a fox")]
    outcomes, _ = match_edits(clip, image, found, edits, EditSettings())
    assert f"note: {CUT}" in outcomes[0].scores and "note:" not in outcomes[1].scores


def test_rank_edits_and_candidate_tables_carry_the_notes(clip):
    source = torch.rand(1, 32, 32, 3)
    candidates = torch.rand(2, 32, 32, 3)
    mask = torch.zeros(32, 32)
    mask[8:24, 8:24] = 1.0
    ranked = rank_edits(MetricsRequest(clip, source, candidates, mask, LONG, source_text=LONG))
    lines = ranked.table.splitlines()
    assert lines[0].startswith(f"note: {CUT}")
    assert lines[1].startswith("note: the source text was cut to CLIP's 77 tokens")
    assert "note:" not in rank_edits(MetricsRequest(clip, source, candidates, mask, "a cat")).table
    targets = [RankTarget(mask[None], "a cat"), RankTarget(mask[None], LONG)]
    _, tables = rank_candidates(clip, source, candidates, targets, 2, RankSettings())
    assert tables.splitlines()[0].startswith(f"note: edit 2: {CUT}")


def test_clipseg_regions_say_which_alternative_was_cut(tiny_models):
    clipseg = load_model(CLIPSEG, tiny_models["clipseg"])
    image = torch.rand(1, 32, 32, 3)
    found = find_by_heat(
        HeatmapRequest(clipseg, image, f"a car | {LONG}", if_nothing_found="whole image")
    )
    assert "alternative 2 was cut to CLIPSeg's 77 tokens" in found.regions[0].note
    assert "alternative 1" not in found.regions[0].note
    short = find_by_heat(HeatmapRequest(clipseg, image, "a car", if_nothing_found="whole image"))
    assert "CLIPSeg" not in short.regions[0].note


def test_guided_texts_are_noted_once_each(clip):
    recipe = GuidanceRecipe(clip, LONG, GuidanceSettings(scale=0.1))
    (note,) = guidance_notes([recipe, None, recipe])
    assert note.startswith(f"guidance: {CUT}")


def test_the_cli_prints_the_notes(tmp_path, capsys, models_root, monkeypatch):
    """A 20,000-character text through the CLI, as a new user would try it: the find text in
    the score table, the prompt in the candidates' ranking table and the guidance."""
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    source = tmp_path / "in.png"
    save_image(torch.rand(1, 72, 120, 3, generator=torch.Generator().manual_seed(0)), source)
    options = [
        "--edit",
        f"{LONG} => {LONG}",
        "--steps",
        "2",
        "--candidates",
        "2",
        "--guide",
        "clip",
    ]
    out_path = str(tmp_path / "out.png")
    assert main(["edit", "--tiny", "--image", str(source), "--out", out_path, *options]) == 0
    out = capsys.readouterr().out
    assert f"note: {CUT}: it read 'the green one ab ab ab … ab ab ab ab'" in out
    assert out.count(f"note: {CUT}") == 2  # the score table and the ranking table
    assert f"note: guidance: {CUT}" in out
