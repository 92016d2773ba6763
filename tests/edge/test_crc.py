from p1edge.crc import HEADER_THREE_PHASE, build_telegram, crc16_arc, seal


def test_it_computes_the_crc16_arc_check_value():
    assert crc16_arc(b"123456789") == 0xBB3D


def test_it_keeps_the_header_backslash_literal():
    telegram = build_telegram(["0-0:96.1.4(50217)"])
    assert HEADER_THREE_PHASE.encode("latin-1")[5] == 0x5C
    assert telegram.startswith("/FLU5\\253769484_A\r\n\r\n")
    assert "\xab" not in telegram


def test_it_seals_with_a_crc_over_slash_to_bang():
    body = "/FLU5\\253769484_A\r\n\r\n0-0:96.1.4(50217)\r\n"
    sealed = seal(body)
    assert sealed.endswith("\r\n")
    assert int(sealed[-6:-2], 16) == crc16_arc((body + "!").encode())
