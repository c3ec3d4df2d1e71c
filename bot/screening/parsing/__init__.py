"""The parts of the answer parsers, one module per family of answer kinds.

bot.screening.parsers assembles them into AnswerParsers and is the only public
way in; import from there, not from these modules. The *Parsers classes are
mixins: AnswerParsers.__init__ compiles the vocabulary into the attributes
they read (self._v, self._yes_no, ...), and some call each other's methods
(car and disability_level fall back on yes_no, residence on choice), so none
of them works alone.
"""
