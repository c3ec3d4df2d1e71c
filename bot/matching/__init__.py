"""FAQ matching: jieba keywords, rapidfuzz similarity and a pinyin layer."""
