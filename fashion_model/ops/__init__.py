"""Operations over a whole home: garbage collection (`fashion gc`)."""
